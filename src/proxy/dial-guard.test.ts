import { describe, expect, it } from 'vitest';
import { isGuardedWrite, webhookUrls } from './dial-guard.ts';

describe('isGuardedWrite', () => {
  it('guards writes of webhook configurations and CRDs, nothing else', () => {
    expect(isGuardedWrite('POST', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations')).toBe(true);
    expect(isGuardedWrite('PATCH', '/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/x')).toBe(true);
    expect(isGuardedWrite('PUT', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/a.example.com')).toBe(true);
    expect(isGuardedWrite('GET', '/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations')).toBe(false);
    expect(isGuardedWrite('DELETE', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/a.example.com')).toBe(false);
    expect(isGuardedWrite('POST', '/apis/apps/v1/namespaces/x/deployments')).toBe(false);
    expect(isGuardedWrite('PATCH', '/apis/apiextensions.k8s.io/v1/customresourcedefinitions/a.example.com/status')).toBe(false);
  });
});

describe('webhookUrls', () => {
  it('names every webhook URL of a configuration, a CRD and a list', () => {
    expect(webhookUrls({ webhooks: [{ clientConfig: { service: { name: 's', namespace: 'n' } } }, { clientConfig: { url: 'https://169.254.169.254/' } }] })).toEqual(['webhooks[1].clientConfig.url']);
    expect(webhookUrls({ spec: { conversion: { strategy: 'Webhook', webhook: { clientConfig: { url: 'https://x' } } } } })).toEqual(['spec.conversion.webhook.clientConfig.url']);
    expect(webhookUrls({ items: [{ webhooks: [{ clientConfig: { url: 'https://x' } }] }] })).toEqual(['items[0].webhooks[0].clientConfig.url']);
    expect(webhookUrls({ spec: { conversion: { strategy: 'None' } } })).toEqual([]);
    expect(webhookUrls(undefined)).toEqual([]);
  });
});
