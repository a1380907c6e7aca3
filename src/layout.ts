// Where an installation keeps its files. install.sh writes layout.json beside
// the compiled code (root-owned); the helper has the same paths compiled in.
// A test installation uses a private root so it never touches a real one.
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Paths of one installation. */
export interface Layout {
  /** The folder holding the helper, the compiled code and node_modules. */
  readonly libDir: string;
  /** The setuid helper. */
  readonly helper: string;
  /** The admin's YAML policy and its drop-in folder. */
  readonly policyFile: string;
  readonly policyDir: string;
  /** The compiled policy the helper reads. */
  readonly compiledPolicy: string;
  /** The image store: blobs, unpacked layers and image records (root's, 0700). */
  readonly imageStore: string;
  /** The persistent writable layers of image containers, UID.ext4 (root's, 0700). */
  readonly layerDir: string;
  /** Runtime records of running containers. */
  readonly stateDir: string;
  /** The audit log. */
  readonly logFile: string;
  /** The cgroup subtree name under each hierarchy. */
  readonly cgroupName: string;
  /** The Unix group whose members may run the helper (enrolled users). */
  readonly group: string;
  /** The login shell path users get in /etc/passwd. */
  readonly launcher: string;
  /** sshd's drop-in folder (cellsh.conf, cellsh-forwarding.conf). */
  readonly sshdConfigDir: string;
  /** The pid file of the sshd that reads those drop-ins (apply makes it read them again). */
  readonly sshdPidFile: string;
  /** That sshd's configuration, which apply checks with `sshd -t` before it reloads sshd. */
  readonly sshdConfig: string;
  /** sshd's PAM stack, where pam_cellsh must be for forwarding to be opened. */
  readonly sshdPam: string;
}

/** The layout of a default installation under /usr/local. */
export const DEFAULT_LAYOUT: Layout = {
  libDir: '/usr/local/lib/cellsh',
  helper: '/usr/local/lib/cellsh/cellsh-helper',
  policyFile: '/etc/cellsh/policy.yaml',
  policyDir: '/etc/cellsh/policy.d',
  compiledPolicy: '/var/lib/cellsh/policy.compiled',
  imageStore: '/var/lib/cellsh/images',
  layerDir: '/var/lib/cellsh/upper',
  stateDir: '/run/cellsh',
  logFile: '/var/log/cellsh/cellsh.log',
  cgroupName: 'cellsh',
  group: 'cellsh',
  launcher: '/usr/local/bin/cellsh',
  sshdConfigDir: '/etc/ssh/sshd_config.d',
  sshdPidFile: '/run/sshd.pid',
  sshdConfig: '/etc/ssh/sshd_config',
  sshdPam: '/etc/pam.d/sshd',
};

/** The lib folder this code runs from: dist/src/<x>.js lives two levels below it. */
export function libDirOfThisCode(): string {
  return resolve(__dirname, '..', '..');
}

/** Load layout.json from the lib folder this code was installed into, or the default. */
export function loadLayout(libDir: string = libDirOfThisCode()): Layout {
  let text: string;
  try {
    text = readFileSync(join(libDir, 'layout.json'), 'utf8');
  } catch {
    return DEFAULT_LAYOUT;
  }
  const raw = JSON.parse(text) as Partial<Layout>;
  return { ...DEFAULT_LAYOUT, ...raw, libDir, helper: join(libDir, 'cellsh-helper') };
}
