// The AssemblyScript abort hook (`--use abort=`): programmer errors only, never reached on
// the request path. Logs at critical so Envoy's log says why the VM stopped, then traps.
import { LogLevel } from './abi';
import { log } from './host';

export function abortHandler(message: string | null, fileName: string | null, line: u32, column: u32): void {
  log(LogLevel.Critical, 'perimeter: abort: ' + (message ? message : '') + ' at ' + (fileName ? fileName : '') + ':' + line.toString());
  unreachable();
}
