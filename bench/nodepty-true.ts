// The interactive baseline: what the least Node program that runs something on
// a terminal costs (start Node, load node-pty, spawn /bin/true, see it exit).
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const pty = require('node-pty') as typeof import('node-pty');
const child = pty.spawn('/bin/true', [], { name: 'xterm-256color', cols: 80, rows: 24, cwd: '/', env: {} });
child.onData(() => undefined);
child.onExit(({ exitCode }) => process.exit(exitCode));
