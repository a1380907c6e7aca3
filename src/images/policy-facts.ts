// What compiling a policy needs to know of the store's images (PolicyEnv.images):
// whether a container can be made from one, the id of its layer list, and what
// its config asks of a session.
import { BOUNDS } from '../contract/index.js';
import type { ImageFacts } from '../policy/resolve.js';
import type { ImageConfig, ImageRecord, ImageStore } from './store.js';

/** The shell an image's config names (its Cmd, when it is a shell and no Entrypoint
 * comes first), else /bin/sh, which every POSIX image has. */
export function imageShell(config: ImageConfig): string {
  const first = config.entrypoint.length === 0 ? config.cmd[0] : undefined;
  const m = first === undefined ? null : /^(?:\/(?:usr\/)?bin\/)?((?:ba|z|k|da|mk|fi|tc|c|a|)sh)$/.exec(first);
  return m ? (first!.startsWith('/') ? first! : `/bin/${m[1]}`) : '/bin/sh';
}

/** Look images of the store up by name, for the policy compiler. */
export function imageFacts(store: ImageStore): (name: string) => ImageFacts | string {
  return (name) => {
    let record: ImageRecord | undefined;
    try {
      record = store.image(name);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      return code === 'EACCES'
        ? "can't be looked up (the image store is root's: run this as root)"
        : `can't be read (${code})`;
    }
    if (!record) return 'is not in the image store';
    if (record.layers.length > BOUNDS.imageLayersMax)
      return `has ${record.layers.length} layers, more than a container stacks (${BOUNDS.imageLayersMax})`;
    if (!record.layers.every((l) => store.hasLayer(l.chainId))) return 'misses layers in the store (import it again)';
    return { id: store.ref(record), env: record.config.env, shell: imageShell(record.config) };
  };
}
