/*
 * The controller's own metric families (names prefixed vscontroller_): switches connected,
 * connections and disconnections by reason, messages by direction and type, errors the
 * switches sent back, app failures, packet-in handling time, and process figures. Created once
 * by the Controller and updated by switch-session.ts and controller.ts; rendered by rest.ts
 * on GET /metrics. Control path.
 */
import { Registry, type Counter, type Gauge, type Histogram } from './metrics.js';

export class ControllerMetrics {
  readonly registry: Registry;
  readonly switchesConnected: Gauge;
  readonly connections: Counter;
  readonly disconnects: Counter;
  readonly packetIns: Counter;
  readonly flowMods: Counter;
  readonly packetOuts: Counter;
  readonly portStatus: Counter;
  readonly flowRemoved: Counter;
  readonly switchErrors: Counter;
  readonly echoTimeouts: Counter;
  readonly appErrors: Counter;
  readonly packetInSeconds: Histogram;

  constructor(registry = new Registry(), connected: () => number = () => 0) {
    this.registry = registry;
    const r = registry;
    this.switchesConnected = r.gauge('vscontroller_switches_connected', 'Switches connected and past the handshake.', [], (g) => g.set(undefined, connected()));
    this.connections = r.counter('vscontroller_switch_connections_total', 'Switch connections accepted.');
    this.disconnects = r.counter('vscontroller_switch_disconnects_total',
      'Switch connections that ended, by reason (closed, echo_timeout, handshake_failed, replaced, shutdown).', ['reason']);
    this.packetIns = r.counter('vscontroller_packet_ins_total', 'Packet-in messages received, by datapath id.', ['dpid']);
    this.flowMods = r.counter('vscontroller_flow_mods_total', 'Flow mods sent, by datapath id.', ['dpid']);
    this.packetOuts = r.counter('vscontroller_packet_outs_total', 'Packet-out messages sent, by datapath id.', ['dpid']);
    this.portStatus = r.counter('vscontroller_port_status_total', 'Port status messages received, by datapath id.', ['dpid']);
    this.flowRemoved = r.counter('vscontroller_flow_removed_total', 'Flow removed messages received, by datapath id.', ['dpid']);
    this.switchErrors = r.counter('vscontroller_switch_errors_total', 'Error messages received from switches, by OpenFlow error name.', ['error']);
    this.echoTimeouts = r.counter('vscontroller_echo_timeouts_total', 'Switches that did not answer an echo request in time (disconnected).');
    this.appErrors = r.counter('vscontroller_app_errors_total', 'Exceptions thrown by app handlers, by app.', ['app']);
    this.packetInSeconds = r.histogram('vscontroller_packet_in_handling_seconds', 'Time the apps took to handle one packet-in.');
    r.gauge('process_resident_memory_bytes', 'Resident memory size in bytes.', [], (g) => g.set(undefined, process.memoryUsage.rss()));
    r.gauge('process_heap_used_bytes', 'V8 heap in use, in bytes.', [], (g) => g.set(undefined, process.memoryUsage().heapUsed));
    const start = Date.now() / 1000 - process.uptime();
    r.gauge('process_start_time_seconds', 'Start time of the process since the Unix epoch, in seconds.', [], (g) => g.set(undefined, Math.floor(start)));
  }
}
