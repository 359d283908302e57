// The matcher's public contract. The serving path, policy and the CLI use
// only what is declared here; everything else in src/match/ is internal.

export type ListFormat = 'hosts' | 'domains' | 'wildcard' | 'adblock' | 'dnsmasq' | 'rpz';

/** One list as configured (`lists.NAME` in the config) or built in (catalogue services). */
export interface ListSpec {
  /** Unique name; shown in verdicts, logs and `aifence lists`. */
  name: string;
  /** File path for file lists; absent for lists whose entries are given in memory. */
  source?: string;
  /** `auto` detects the format from the file's lines. */
  format: ListFormat | 'auto';
  /** Entries match only the name itself, never its subdomains. */
  exact: boolean;
  /** Every entry of this list is an allow entry. */
  allow: boolean;
}

/** One parsed line. `name` is normalised: lower case ASCII (IDN as punycode), no trailing dot. */
export interface Entry {
  name: string;
  /** 1-based line number in the source. */
  line: number;
  /** Matches only `name` itself, not its subdomains. */
  exact: boolean;
  /** An allow (exception) entry, e.g. adblock `@@||name^`. */
  allow: boolean;
}

export interface Reject {
  line: number;
  text: string;
  reason: string;
}

/** The outcome of reading one list: what loaded and what was rejected, with reasons. */
export interface ListReport {
  name: string;
  source?: string;
  format: ListFormat | 'memory';
  entries: number;
  /** Lines that carry no entry by design (comments, headers, SOA/NS, localhost preamble). */
  ignored: number;
  /** Rules understood but not expressible in DNS (adblock `$` options, paths): counted, never misread. */
  skipped: number;
  rejected: number;
  /** The first few rejects and skips, for humans. */
  samples: Reject[];
}

/**
 * A compiled, immutable matcher over every configured list. Reloads build a
 * new one and swap the reference; nothing here mutates after construction.
 *
 * A lookup returns a mask id: an index into a small table of distinct
 * (block lists, allow lists) sets. 0 means no list mentions the name. Policy
 * precomputes a verdict per mask id, so the per-query decision is one walk
 * plus one array read.
 */
export interface Matcher {
  /** Mask id for the wire-format name at `offset` in `buf`; -1 if the name is malformed or compressed. Allocates nothing. */
  matchWire(buf: Uint8Array, offset: number): number;
  /** Mask id for a presentation-format name (any case, optional trailing dot, Unicode allowed). */
  matchName(name: string): number;
  /** How many mask ids exist (ids are 0 .. maskCount-1). */
  readonly maskCount: number;
  /** The lists compiled in, indexed by list id. */
  readonly lists: readonly ListSpec[];
  /** Does list `listId` block the names that get mask `maskId`? */
  blocks(maskId: number, listId: number): boolean;
  /** Does list `listId` allow (except) the names that get mask `maskId`? */
  allows(maskId: number, listId: number): boolean;
  /** Bytes held by the compiled structure (typed arrays). */
  readonly byteSize: number;
}

/** Why a name got its verdict: every entry on its suffix path, most specific first. */
export interface Explanation {
  list: string;
  /** The entry's normalised name (the suffix of the query that it matched). */
  entry: string;
  line: number;
  /** The source line's text as written, when the list has a source. */
  text?: string;
  allow: boolean;
  exact: boolean;
}

/** A list to compile: a file list (spec.source set) or an in-memory one (entries given, e.g. a catalogue service). */
export interface ListInput {
  spec: ListSpec;
  /** For in-memory lists. `text` is the entry as written, for explanations. */
  entries?: readonly (Entry & { text?: string })[];
}

/** Everything compiled from the configured lists: swapped as one reference on reload. */
export interface ListSet {
  readonly matcher: Matcher;
  readonly reports: readonly ListReport[];
  /** Every entry on the name's suffix path, most specific first (re-reads file lists: off the hot path). */
  explain(name: string): Promise<Explanation[]>;
  /** explain() for many names at once: each list is read at most once for all of them. */
  explainAll(names: readonly string[]): Promise<Explanation[][]>;
}
