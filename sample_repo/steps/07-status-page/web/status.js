// Status page for a burrow node: polls the daemon and shows, for every
// peer, how many bytes of our log it has not copied yet.

const STATUS_URL = "http://localhost:7421/status"; // the daemon's status port
const POLL_MS = 5000;

// TODO(ada): have the daemon report the local log size
//   it only sends per-peer offsets today, so "behind by" is measured
//   against zero and every peer looks fully caught up
//   #ui #sync

function behind(peer, localSize) {
  return Math.max(0, localSize - peer.offset);
}

/* FIXME: render() rebuilds the whole table on every poll
 *   with a few hundred peers the page stutters; update rows in place
 *   #ui #performance
 */
function render(table, status) {
  table.tBodies[0].replaceChildren();
  for (const peer of status.peers) {
    const row = table.tBodies[0].insertRow();
    row.insertCell().textContent = peer.name;
    row.insertCell().textContent = String(behind(peer, status.logSize ?? 0));
  }
}

async function poll(table) {
  try {
    const response = await fetch(STATUS_URL);
    render(table, await response.json());
    table.caption.textContent = "peers";
  } catch (err) {
    table.caption.textContent = "daemon unreachable: " + err.message;
  }
}

const peers = document.querySelector("#peers");
setInterval(() => poll(peers), POLL_MS);
