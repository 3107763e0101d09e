// Builds (or finds) the kit once for the integration run and hands its folder to the test files.
import { loadKit } from '../src/local/kit.ts';

export default async function setup(): Promise<void> {
  const kit = await loadKit();
  process.env.VNEST_KIT_DIR = kit.dir;
}
