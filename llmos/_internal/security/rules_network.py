"""Rules about opening this machine to other networks: tunnels. ``ssh -R`` (a port of this
machine reachable from elsewhere), ``ssh -D`` (a proxy into the remote network), ``ssh -L`` to
a host other than the remote itself, ``ssh -w`` (a VPN device), and the tunnel services and
tools (ngrok, cloudflared, localtunnel, bore, chisel, frp, sshuttle...). A forward to a port of
the remote host itself (``ssh -L 5432:localhost:5432 db``) is ordinary work and allowed.
Soft rule ``network-tunnel`` (denied by default)."""

from __future__ import annotations

import re

from llmos._internal.security.decision import Decision, deny
from llmos._internal.security.rule_kit import applies_to, option_values, positionals, words
from llmos._internal.security.shell_types import Command
from llmos._internal.security.zones import Zones

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1", "[::1]", "0.0.0.0", "ip6-localhost"})
_SSH_VALUE = "-b -c -D -E -e -F -I -i -J -L -l -m -O -o -p -Q -R -S -W -w -B".split()
_TUNNEL_TOOLS = {  # program -> the subcommands that open a tunnel ("" : any use)
    "ngrok": words("http tcp tls start tunnel"),
    "cloudflared": words("tunnel access"),
    "lt": frozenset({""}),
    "localtunnel": frozenset({""}),
    "bore": words("local"),
    "chisel": words("client server"),
    "frpc": frozenset({""}),
    "sshuttle": frozenset({""}),
    "iodine": frozenset({""}),
    "dns2tcpc": frozenset({""}),
    "ptunnel": frozenset({""}),
    "rathole": frozenset({""}),
    "pagekite": frozenset({""}),
    "zrok": words("share reserve"),
    "tailscale": words("funnel"),
    "openvpn": frozenset({""}),
    "wg-quick": words("up"),
    "gost": frozenset({""}),
}


def _tunnel(name: str, how: str) -> Decision:
    return deny(
        "network-tunnel",
        f"`{name}` would open a tunnel between this machine and another network ({how}), "
        "which others can use to reach in or out. Don't; if a service must be reachable, "
        "tell the user.",
    )


@applies_to("ssh autossh plink")
def _ssh(cmd: Command, zones: Zones) -> Decision | None:
    args = cmd.args
    for k, a in enumerate(args):
        if re.fullmatch(r"-[A-Za-z]*R.*", a) and not a.startswith("--"):
            return _tunnel(cmd.name, "-R: a port of this machine reachable from the remote")
        if re.fullmatch(r"-[A-Za-z]*D.*", a):
            return _tunnel(cmd.name, "-D: a proxy into the remote network")
        if re.fullmatch(r"-[A-Za-z]*w.*", a):
            return _tunnel(cmd.name, "-w: a network device between both machines")
        if (a == "-o" and k + 1 < len(args)) or (a.startswith("-o") and len(a) > 2):
            option = args[k + 1] if a == "-o" else a[2:]
            m = re.match(r"(?i)(remoteforward|dynamicforward|tunnel|gatewayports)\s*[= ]", option)
            if m and not option.lower().endswith(("=no", " no")):
                return _tunnel(cmd.name, f"-o {m.group(1)}")
    gateway = any(re.fullmatch(r"-[A-Za-z]*g[A-Za-z]*", a) for a in args)
    clustered = [args[k + 1] for k, a in enumerate(args[:-1]) if re.fullmatch(r"-[A-Za-z]+L", a)]
    for spec in option_values(args, "-L") + clustered + _options(args, "localforward"):
        parts = spec.replace(" ", ":").split(":")
        host = parts[-2] if len(parts) >= 3 else ""
        bind = parts[0] if len(parts) == 4 else "localhost"
        if bind in ("0.0.0.0", "*", "", "::"):
            return _tunnel(cmd.name, f"-L {spec}: a port open to every network")
        if parts[-1].startswith("/") or not host:
            continue  # a socket on the remote: stays on it
        if host not in _LOCAL_HOSTS or gateway:
            return _tunnel(cmd.name, f"-L {spec}: a path into the remote's network")
    return None


def _options(args: tuple[str, ...], name: str) -> list[str]:
    out = []
    for value in option_values(args, "-o"):
        key, _, rest = value.replace("=", " ", 1).partition(" ")
        if key.lower() == name:
            out.append(rest.strip())
    return out


@applies_to(" ".join(_TUNNEL_TOOLS))
def _tunnel_tools(cmd: Command, zones: Zones) -> Decision | None:
    verbs = _TUNNEL_TOOLS[cmd.name]
    operands = positionals(cmd.args)
    if ("" in verbs and operands) or (operands and operands[0] in verbs):
        return _tunnel(cmd.name, "a tunnel service")
    if "" in verbs and any(a.startswith(("--port", "-p", "-r")) for a in cmd.args):
        return _tunnel(cmd.name, "a tunnel service")
    return None


@applies_to("socat")
def _relay(cmd: Command, zones: Zones) -> Decision | None:
    """socat TCP-LISTEN:port,fork TCP:host:port: a relay from every network to another host."""
    listens = any(re.match(r"(?i)(tcp|tcp4|tcp6|udp)-listen:", a) for a in cmd.args)
    remote = [
        m.group(1)
        for a in cmd.args
        if (m := re.match(r"(?i)(?:tcp|tcp4|tcp6|udp|openssl)(?:-connect)?:([^:,]+):", a))
    ]
    if listens and any(h not in _LOCAL_HOSTS for h in remote):
        return _tunnel(cmd.name, "a relay from this machine's port to another host")
    return None
