//! A throw-away network of Linux network namespaces for partition tests: one
//! namespace per node, each joined by a veth pair to a bridge in the root namespace,
//! on a random 10.x.y.0/24 that nothing on this host uses yet. The root namespace
//! (where the test and its clients run) reaches every node over the bridge.
//!
//! Owns every namespace and link it creates: dropping the `Topology` deletes them,
//! pass or fail, and it never touches a name it did not create (every name carries a
//! per-run tag). Cutting a node takes its bridge-side veth down, which drops BOTH its
//! inter-broker and its controller traffic while clients inside its namespace still
//! reach it over the namespace's own loopback routing.

use std::net::Ipv4Addr;
use std::process::Command;

use super::common::Rng;

/// Addresses chosen per run; the bridge takes `.254`, node N takes `.N`.
const BRIDGE_HOST: u8 = 254;

/// Runs `ip args...`; `Err` carries the command and what it printed.
pub fn ip(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip").args(args).output().map_err(|e| {
        format!(
            "cannot run `ip {}`: {e} (iproute2 missing?)",
            args.join(" ")
        )
    })?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`ip {}` exited {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// Every `a.b.c.d[/n]` token in `text`, as (network, prefix length).
fn cidrs(text: &str) -> Vec<(u32, u32)> {
    text.split_whitespace()
        .filter_map(|tok| {
            let (addr, len) = tok.split_once('/').unwrap_or((tok, "32"));
            let addr: Ipv4Addr = addr.parse().ok()?;
            let len: u32 = len.parse().ok().filter(|l| *l <= 32)?;
            Some((u32::from(addr), len))
        })
        .collect()
}

/// Whether two CIDR blocks share any address.
fn overlaps((a, alen): (u32, u32), (b, blen): (u32, u32)) -> bool {
    let len = alen.min(blen);
    let mask = if len == 0 { 0 } else { u32::MAX << (32 - len) };
    a & mask == b & mask
}

/// A random 10.x.y.0/24 that no address or route of the root namespace touches
/// (the default route is a keyword, not a block, so it does not count).
fn free_subnet(rng: &mut Rng) -> Result<[u8; 3], String> {
    let used = format!(
        "{}\n{}",
        ip(&["-4", "-o", "addr", "show"])?,
        ip(&["-4", "route", "show", "table", "all"])?
    );
    let taken = cidrs(&used);
    for _ in 0..64 {
        let x = 1 + rng.below(254) as u8;
        let y = 1 + rng.below(254) as u8;
        let net = (u32::from(Ipv4Addr::new(10, x, y, 0)), 24);
        if !taken.iter().any(|t| overlaps(*t, net)) {
            return Ok([10, x, y]);
        }
    }
    Err(format!(
        "no free 10.x.y.0/24 found among 64 tries; in use:\n{used}"
    ))
}

/// The namespaces, veths and bridge of one test run.
pub struct Topology {
    /// Per-run tag in every name, so concurrent runs never share one.
    tag: String,
    subnet: [u8; 3],
    nodes: usize,
    /// Names created so far, deleted on drop (a half-built topology is cleaned too).
    created_ns: Vec<String>,
    created_veths: Vec<String>,
    created_bridge: bool,
}

impl Topology {
    /// Builds `nodes` namespaces (node ids 1..=nodes) joined to one bridge. `Err`
    /// says what the host refused (e.g. not root: `ip netns add` needs CAP_SYS_ADMIN).
    pub fn create(nodes: usize, rng: &mut Rng) -> Result<Topology, String> {
        let tag = format!("{:05x}", rng.below(0xf_ffff));
        let mut topo = Topology {
            tag,
            subnet: free_subnet(rng)?,
            nodes,
            created_ns: Vec::new(),
            created_veths: Vec::new(),
            created_bridge: false,
        };
        let bridge = topo.bridge();
        ip(&["link", "add", &bridge, "type", "bridge"])?;
        topo.created_bridge = true;
        let cidr = format!("{}/24", topo.addr_of(BRIDGE_HOST));
        ip(&["addr", "add", &cidr, "dev", &bridge])?;
        ip(&["link", "set", &bridge, "up"])?;
        for id in 1..=nodes {
            let ns = topo.namespace(id);
            ip(&["netns", "add", &ns])?;
            topo.created_ns.push(ns.clone());
            let host = topo.host_veth(id);
            // The namespace side is `tw0` in every namespace; names are per namespace.
            ip(&[
                "link", "add", &host, "type", "veth", "peer", "name", "tw0", "netns", &ns,
            ])?;
            topo.created_veths.push(host.clone());
            ip(&["link", "set", &host, "master", &bridge])?;
            ip(&["link", "set", &host, "up"])?;
            let cidr = format!("{}/24", topo.node_ip(id));
            ip(&["-n", &ns, "addr", "add", &cidr, "dev", "tw0"])?;
            ip(&["-n", &ns, "link", "set", "tw0", "up"])?;
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(topo)
    }

    fn addr_of(&self, host: u8) -> Ipv4Addr {
        let [a, b, c] = self.subnet;
        Ipv4Addr::new(a, b, c, host)
    }

    /// Node `id`'s address (`10.x.y.id`).
    pub fn node_ip(&self, id: usize) -> Ipv4Addr {
        self.addr_of(id as u8)
    }

    /// Node `id`'s network namespace name.
    pub fn namespace(&self, id: usize) -> String {
        format!("tw-{}-n{id}", self.tag)
    }

    fn bridge(&self) -> String {
        format!("twb{}", self.tag)
    }

    /// The root-namespace end of node `id`'s veth (IFNAMSIZ allows 15 characters).
    fn host_veth(&self, id: usize) -> String {
        format!("twv{}n{id}", self.tag)
    }

    /// The per-run tag in every name this topology creates.
    pub fn tag(&self) -> &str {
        &self.tag
    }

    pub fn describe(&self) -> String {
        format!(
            "{} namespaces tw-{}-n*, bridge {} on {}/24",
            self.nodes,
            self.tag,
            self.bridge(),
            self.addr_of(0)
        )
    }

    /// Cuts node `id` off the bridge: nothing leaves or reaches its namespace.
    pub fn cut(&self, id: usize) -> Result<(), String> {
        ip(&["link", "set", &self.host_veth(id), "down"]).map(drop)
    }

    /// Undoes [`Topology::cut`].
    pub fn heal(&self, id: usize) -> Result<(), String> {
        ip(&["link", "set", &self.host_veth(id), "up"]).map(drop)
    }

    /// `ip netns exec <ns of id>` followed by `program args`, as an argument list for
    /// `ip` (the process is the program itself: `ip` execs it).
    pub fn exec_args(&self, id: usize, program: &str, args: &[String]) -> Vec<String> {
        let mut all = vec![
            "netns".into(),
            "exec".into(),
            self.namespace(id),
            program.into(),
        ];
        all.extend(args.iter().cloned());
        all
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        // The bridge-side veth ends go first and explicitly: a namespace lives on after
        // `ip netns del` while the kernel still holds references to it (e.g. sockets
        // being torn down), and its veth pair with it.
        for veth in self.created_veths.drain(..) {
            if let Err(e) = ip(&["link", "del", &veth]) {
                eprintln!("cleanup: {e}");
            }
        }
        for ns in self.created_ns.drain(..) {
            if let Err(e) = ip(&["netns", "del", &ns]) {
                eprintln!("cleanup: {e}");
            }
        }
        if self.created_bridge
            && let Err(e) = ip(&["link", "del", &self.bridge()])
        {
            eprintln!("cleanup: {e}");
        }
    }
}

#[cfg(test)]
mod cidr_tests {
    use super::*;

    #[test]
    fn overlap_and_tokens() {
        let t = cidrs("default via 192.0.2.1 dev eth0\n10.1.0.0/16 dev x src 10.9.9.9");
        assert_eq!(t.len(), 3, "{t:?}");
        let net = (u32::from(Ipv4Addr::new(10, 1, 7, 0)), 24);
        assert!(overlaps(t[1], net), "10.1.0.0/16 covers 10.1.7.0/24");
        assert!(!overlaps(t[0], net));
        let other = (u32::from(Ipv4Addr::new(10, 9, 9, 0)), 24);
        assert!(overlaps(t[2], other), "10.9.9.9/32 is in 10.9.9.0/24");
    }
}
