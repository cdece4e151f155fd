// bench/stripe_trees.ts: a balanced stripe-tree overlay for a flash crowd (SplitStream: Castro
// et al., 2003), the what-if the swarm simulator runs with `stripeTrees`. Pure.
//
// The file's pieces fall into K stripes (piece i in stripe i mod K). Each downloader forwards
// one stripe, its own, to K others, and receives every other stripe from one parent; each
// stripe's tree hangs from the source, which sends each piece once, to that stripe's root. With
// every stripe carried at a K-th of a link, every uplink and downlink is full from the first
// parts on and nothing is sent twice: the simulator finishes 100 peers within 2% of the
// Kumar-Ross bound. The trees must be balanced (no parent with more than K children in its
// stripe): one parent with K + 1 children holds all of them to a (K+1)-th of a link, and they
// finish a quarter late (10 peers, 4 stripes: 1.25x the bound). When the downloaders do not
// divide evenly into the stripes, some pass on a second stripe in the places left over in
// their own (10 peers: 1.10x).
//
// The product does not build this overlay: it needs a coordinator that knows every downloader
// and places each (see docs/swarm.md).

/** Parents of a stripe-tree overlay, as host indexes: host 0 is the source, host d + 1 downloader d. */
export interface StripeTrees {
  stripes: number;
  /** parents[d][s]: the host downloader d asks for the pieces of stripe s. */
  parents: number[][];
}

/** The stripe of piece `index` among `stripes`. */
export function stripeOf(index: number, stripes: number): number {
  return index % stripes;
}

/**
 * Balanced trees for `downloaders` downloaders and `stripes` stripes. Downloader d forwards
 * stripe d mod K; in each stripe the forwarders come first in breadth-first order (each takes
 * the next K children), then the others as leaves, so a tree is about log_K(N / K) + 1 deep.
 * Every downloader sends to K children at most, over all stripes: when the downloaders do not
 * divide evenly, a stripe with fewer forwarders is short of places, and its last children go to
 * downloaders with places left in the stripes with more (those already in the stripe's tree,
 * shallowest first), which pass that stripe on too.
 */
export function stripeTrees(downloaders: number, stripes: number): StripeTrees {
  if (!Number.isSafeInteger(stripes) || stripes < 1)
    throw new RangeError(`Invalid stripes: expected a positive integer: got ${stripes}`);
  if (!Number.isSafeInteger(downloaders) || downloaders < stripes)
    throw new RangeError(
      `Invalid stripe trees: ${downloaders} downloaders for ${stripes} stripes (each stripe needs a downloader to forward it)`,
    );
  const parents = Array.from({ length: downloaders }, () => new Array<number>(stripes).fill(-1));
  const sends = new Array<number>(downloaders).fill(0);
  const short: { stripe: number; child: number; attached: number[] }[] = [];
  for (let s = 0; s < stripes; s++) {
    const forwarders: number[] = [];
    const leaves: number[] = [];
    for (let d = 0; d < downloaders; d++) (stripeOf(d, stripes) === s ? forwarders : leaves).push(d);
    const [root = 0] = forwarders;
    (parents[root] ?? [])[s] = 0; // the source's child
    const attached = [root];
    let f = 0;
    for (const child of [...forwarders.slice(1), ...leaves]) {
      while (f < forwarders.length && (sends[forwarders[f] ?? 0] ?? 0) >= stripes) f++;
      const parent = forwarders[f];
      if (parent === undefined) {
        short.push({ stripe: s, child, attached });
        continue;
      }
      (parents[child] ?? [])[s] = parent + 1;
      sends[parent] = (sends[parent] ?? 0) + 1;
      attached.push(child);
    }
  }
  // Only once every stripe has placed its own: the places left are then known.
  for (const { stripe, child, attached } of short) {
    const parent = attached.find((d) => d !== child && (sends[d] ?? 0) < stripes);
    if (parent === undefined)
      throw new Error(`stripeTrees: no place for downloader ${child} in stripe ${stripe}`);
    (parents[child] ?? [])[stripe] = parent + 1;
    sends[parent] = (sends[parent] ?? 0) + 1;
    attached.push(child);
  }
  return { stripes, parents };
}
