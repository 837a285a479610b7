/*
 * Errors of the controller process (vscontroller): bad command lines and listen targets, apps
 * that cannot be found or loaded, bad static flow files, REST requests for switches that are
 * not connected. Each has a stable `code`; the REST API sends it back as `error.code`. Thrown
 * by main.ts, target.ts, app.ts, apps/*.ts and rest.ts. Control path.
 */
import { VswitchError } from '../lib/errors.js';

export type ControllerErrorCode =
  | 'BAD_TARGET'       // a listen target or HOST:PORT that does not parse
  | 'NO_SUCH_APP'      // --app NAME that is neither built in nor a file
  | 'APP_LOAD'         // an app file that cannot be imported or exports no app
  | 'APP_ARG'          // an app's ARG it does not accept
  | 'STATIC_FILE'      // a static flow file that cannot be read or has a bad flow
  | 'NO_SUCH_SWITCH'   // a datapath id with no connected switch
  | 'BAD_DPID'         // a datapath id that does not parse
  | 'INSECURE_REST';   // the REST API asked to listen beyond loopback without a token

/** Thrown when the controller cannot do what it was asked; `code` says why. */
export class ControllerError extends VswitchError {
  declare readonly code: ControllerErrorCode;
  constructor(code: ControllerErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'ControllerError';
  }
}
