// The registry of synced kinds. Adding a kind is one file in this folder and one line here.
import type { Controller } from '../../controller/controller.ts';
import type { SyncContext } from '../context.ts';
import { createReferencedSync } from './configmaps.ts';
import { EventSync } from './events.ts';
import { VirtualNodes } from './nodes.ts';
import { createPodSync } from './pods.ts';
import { createPvcSync } from './pvcs.ts';
import { ReferenceIndex } from './references.ts';

/** State several kinds share: virtual nodes (pods bind to them) and pod references. */
export interface Shared {
  nodes: VirtualNodes;
  refs: ReferenceIndex;
}

export type ResourceFactory = (ctx: SyncContext, shared: Shared) => { controller: Controller };

export const resources: Record<string, ResourceFactory> = {
  pods: (ctx, s) => createPodSync(ctx, s.nodes),
  configmaps: (ctx, s) => createReferencedSync(ctx, s.refs, 'configmaps'),
  secrets: (ctx, s) => createReferencedSync(ctx, s.refs, 'secrets'),
  persistentvolumeclaims: (ctx) => createPvcSync(ctx),
  events: (ctx) => new EventSync(ctx),
};

export function createShared(ctx: SyncContext): Shared {
  return { nodes: new VirtualNodes(ctx), refs: new ReferenceIndex(ctx) };
}
