/*
 * block-tcp-port: an example vscontroller app that drops TCP traffic to one destination port
 * (default 23, telnet) on every switch. Run it in front of l2-learning:
 *
 *     vscontroller --app ./examples/block-tcp-port.js:23 --app l2-learning ptcp:6653:127.0.0.1
 *
 * On each switch it installs a high-priority drop flow for the port (IPv4 and IPv6), so the
 * switch drops such packets itself. A packet that reached the controller before the flow was
 * in place is stopped here ('stop'), so l2-learning never forwards it. The number of those
 * shows on /metrics as vscontroller_app_tcp_port_blocked_total{app="block-tcp-port"}.
 * Plain JavaScript (an ES module): docs/controller.md explains the app interface.
 */

const ETH_IPV4 = 0x0800;
const ETH_IPV6 = 0x86dd;
const TCP = 6;

/** Whether the frame is TCP to `port` (IPv4 or IPv6 without extension headers). */
function isTcpTo(pi, port) {
  const d = pi.data;
  let l4;
  if (pi.ethType === ETH_IPV4 && d.length >= pi.l3Offset + 20) {
    if (d[pi.l3Offset + 9] !== TCP) return false;
    if (((d[pi.l3Offset + 6] & 0x1f) | d[pi.l3Offset + 7]) !== 0) return false; // a later fragment: no TCP header
    l4 = pi.l3Offset + (d[pi.l3Offset] & 0x0f) * 4;
  } else if (pi.ethType === ETH_IPV6 && d.length >= pi.l3Offset + 40) {
    if (d[pi.l3Offset + 6] !== TCP) return false;
    l4 = pi.l3Offset + 40;
  } else {
    return false;
  }
  return d.length >= l4 + 4 && ((d[l4 + 2] << 8) | d[l4 + 3]) === port;
}

/** The factory vscontroller calls with ARG (the text after the ":" in --app FILE:ARG). */
export default function createApp(arg) {
  const port = arg === undefined || arg === '' ? 23 : Number(arg);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`block-tcp-port: "${arg}" is not a TCP port (1-65535)`);
  let log = null;
  let blocked = null;

  return {
    name: 'block-tcp-port',

    start(ctx) {
      log = ctx.log;
      blocked = ctx.counter('tcp_port_blocked', `Packet-ins of TCP to port ${port} the controller dropped.`);
    },

    onSwitchUp(sw) {
      // Flow strings are ovs-ofctl's; the switch validates them and reports failures to onError.
      sw.addFlow(`priority=40000,tcp,tp_dst=${port},actions=drop`);
      sw.addFlow(`priority=40000,tcp6,tp_dst=${port},actions=drop`);
      log.info({ dpid: sw.id, port }, 'blocking TCP port');
    },

    onPacketIn(sw, pi) {
      if (!isTcpTo(pi, port)) return undefined;
      blocked.inc();
      return 'stop';
    },

    onError(sw, err) {
      log.error({ dpid: sw.id, err: err.message }, 'the switch refused a flow');
    },

    describe() {
      return { port, blocked: blocked ? blocked.value : 0 };
    },
  };
}
