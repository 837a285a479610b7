/*
 * vscontroller: the controller process for vswitch bridges (src/controller). `main(argv)`
 * runs it in the foreground until SIGTERM/SIGINT and resolves with the exit status; startup
 * errors print as "vscontroller: message" with status 1, like the other tools. Called by
 * bin/vscontroller.js. Control path.
 */
import { runController } from '../src/controller/main.js';
import { runTool, stdio, type ToolIo } from './common.js';

export async function main(argv: string[], io: ToolIo = stdio, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  return runTool('vscontroller', io, () => runController(argv, io, env));
}
