/*
 * The datapath daemon: `node dist/src/datapath/main.js [--pidfile FILE] [--log-file FILE]
 * [--socket PATH] [--flow-limit N]`. Serves datapath.sock (paths().dpSock unless --socket) and
 * the appctl socket datapath.ctl (JSON-RPC: exit, version, coverage/show, dpif/show). Writes
 * its pidfile once both listen; on SIGTERM, SIGINT or `exit` closes every port (removing the tap
 * devices), removes the sockets and the pidfile and exits 0. Started detached by `vswitch start`.
 *
 * This entry only sets the process's V8 flags, then loads the daemon (daemon-main.ts): some
 * flags act on what happens while modules load, so they must come before any of ours does.
 */
import { setDatapathV8Flags } from './v8-flags.js';

setDatapathV8Flags(process.env);
await import('./daemon-main.js');
