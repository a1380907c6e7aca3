// The interactive baseline: what the least Node program that runs something on
// a terminal costs (start Node, load node-pty, spawn /bin/true, see it exit).
import { spawn } from 'node-pty';

const child = spawn('/bin/true', [], { name: 'xterm-256color', cols: 80, rows: 24, cwd: '/', env: {} });
child.onData(() => undefined);
child.onExit(({ exitCode }) => process.exit(exitCode));
