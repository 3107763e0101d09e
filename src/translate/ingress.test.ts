import { describe, expect, it } from 'vitest';
import { hostIngressSpec, ingressSecrets } from './ingress.ts';
import { defaultPolicy } from './policy.ts';

const ctx = { tenant: 't1', domain: 'team.example.org', policy: defaultPolicy({ ingressClasses: new Set(['nginx']) }) };
const rule = (host: string | undefined) => ({ ...(host === undefined ? {} : { host }), http: { paths: [{ path: '/', pathType: 'Prefix', backend: { service: { name: 'web', port: { number: 80 } } } }] } });

describe('hostIngressSpec', () => {
  it('routes to this tenant\'s Service and Secret copies for hosts in its domain', () => {
    const { spec, problems } = hostIngressSpec({
      ingressClassName: 'nginx', rules: [rule('app.team.example.org'), rule('team.example.org')],
      tls: [{ hosts: ['app.team.example.org', '*.team.example.org'], secretName: 'cert' }],
    }, 'apps', ctx);
    expect(problems).toEqual([]);
    expect(spec.rules[0].http.paths[0].backend.service).toEqual({ name: 'web-x-apps-x-t1', port: { number: 80 } });
    expect(spec.tls[0]).toEqual({ hosts: ['app.team.example.org', '*.team.example.org'], secretName: 'cert-x-apps-x-t1' });
    expect(spec.ingressClassName).toBe('nginx');
  });

  it('refuses host names outside the domain, catch-alls, resource backends and classes not allowed, naming each field', () => {
    const { problems } = hostIngressSpec({
      ingressClassName: 'internal', defaultBackend: { service: { name: 'web', port: { number: 80 } } },
      rules: [rule('example.org'), rule('other-team.example.org'), rule(undefined), { host: 'x.team.example.org', http: { paths: [{ path: '/', pathType: 'Prefix', backend: { resource: { kind: 'Bucket', name: 'b' } } }] } }],
      tls: [{ secretName: 'cert' }, { hosts: ['evilteam.example.org'], secretName: 'cert' }],
    }, 'apps', ctx);
    expect(problems.map((p) => p.split(':')[0])).toEqual([
      'spec.rules[3].http.paths[0].backend.resource',
      'spec.ingressClassName', 'spec.defaultBackend', 'spec.rules[0].host', 'spec.rules[1].host', 'spec.rules[2].host', 'spec.tls[0].hosts', 'spec.tls[1].hosts[0]',
    ]);
  });

  it('refuses fields it does not know', () => {
    expect(hostIngressSpec({ rules: [rule('team.example.org')], somethingNew: true }, 'apps', ctx).problems).toEqual(['spec.somethingNew is not on vnest\'s allow-list of fields']);
  });

  it('lists the TLS Secrets an Ingress names', () => {
    expect(ingressSecrets({ tls: [{ secretName: 'a' }, { secretName: 'a' }, { hosts: ['x'] }, { secretName: 'b' }] })).toEqual(['a', 'b']);
  });
});
