import { describe, expect, it } from 'vitest';
import { classifyKubeletPath, hostQuery } from './kubelet.ts';

describe('classifyKubeletPath', () => {
  it('reads the paths the API server dials', () => {
    expect(classifyKubeletPath('/exec/apps/web-0/main?command=ls&output=1')).toEqual({ kind: 'exec', namespace: 'apps', pod: 'web-0', container: 'main' });
    expect(classifyKubeletPath('/exec/apps/web-0/0b4e-11/main')).toEqual({ kind: 'exec', namespace: 'apps', pod: 'web-0', uid: '0b4e-11', container: 'main' });
    expect(classifyKubeletPath('/attach/apps/web-0/main')).toEqual({ kind: 'attach', namespace: 'apps', pod: 'web-0', container: 'main' });
    expect(classifyKubeletPath('/containerLogs/apps/web-0/main?follow=true')).toEqual({ kind: 'log', namespace: 'apps', pod: 'web-0', container: 'main' });
    expect(classifyKubeletPath('/portForward/apps/web-0')).toEqual({ kind: 'portforward', namespace: 'apps', pod: 'web-0' });
    expect(classifyKubeletPath('/healthz')).toEqual({ kind: 'healthz' });
  });

  it('knows nothing else, and no path in another form', () => {
    for (const path of ['/pods', '/stats/summary', '/metrics/resource', '/run/apps/web-0/main', '/exec/apps/web-0', '/exec/apps/../secrets/x', '/exec/apps/web-0/main/extra/more', '/exec/Apps/web-0/main', '/exec/apps/web%2F0/main', '/containerLogs/apps/web-0/a/b']) {
      expect(classifyKubeletPath(path), path).toBeUndefined();
    }
  });
});

describe('hostQuery', () => {
  it('turns the kubelet\'s stream flags into the pod subresource\'s', () => {
    const q = hostQuery({ kind: 'exec', namespace: 'a', pod: 'p', container: 'c' }, new URLSearchParams('input=1&output=1&error=1&tty=1&command=sh&command=-c&command=echo%20hi'));
    expect(q.toString()).toBe('container=c&stdin=true&stdout=true&stderr=true&tty=true&command=sh&command=-c&command=echo+hi');
    expect(hostQuery({ kind: 'attach', namespace: 'a', pod: 'p', container: 'c' }, new URLSearchParams('output=1&command=x')).toString()).toBe('container=c&stdout=true');
  });

  it('passes ports and log options, nothing else', () => {
    expect(hostQuery({ kind: 'portforward', namespace: 'a', pod: 'p' }, new URLSearchParams('port=80,443&other=1')).toString()).toBe('ports=80&ports=443');
    expect(hostQuery({ kind: 'log', namespace: 'a', pod: 'p', container: 'c' }, new URLSearchParams('follow=true&tailLines=5&container=evil&x=1')).toString()).toBe('container=c&follow=true&tailLines=5');
  });
});
