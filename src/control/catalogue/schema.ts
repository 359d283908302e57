// The vocabulary a catalogue file may use: countries, tags, source labels,
// and the shape of ids and host names. Kept apart from the loader so the
// rules read as a list a reviewer can check.

/** ISO 3166-1 alpha-2, lower case (249 codes). */
export const ISO_COUNTRIES: ReadonlySet<string> = new Set(
  (
    'ad ae af ag ai al am ao aq ar as at au aw ax az ba bb bd be bf bg bh bi bj bl bm bn bo bq br bs bt bv bw by bz ' +
    'ca cc cd cf cg ch ci ck cl cm cn co cr cu cv cw cx cy cz de dj dk dm do dz ec ee eg eh er es et fi fj fk fm fo fr ' +
    'ga gb gd ge gf gg gh gi gl gm gn gp gq gr gs gt gu gw gy hk hm hn hr ht hu id ie il im in io iq ir is it je jm jo jp ' +
    'ke kg kh ki km kn kp kr kw ky kz la lb lc li lk lr ls lt lu lv ly ma mc md me mf mg mh mk ml mm mn mo mp mq mr ms mt ' +
    'mu mv mw mx my mz na nc ne nf ng ni nl no np nr nu nz om pa pe pf pg ph pk pl pm pn pr ps pt pw py qa re ro rs ru rw ' +
    'sa sb sc sd se sg sh si sj sk sl sm sn so sr ss st sv sx sy sz tc td tf tg th tj tk tl tm tn to tr tt tv tw tz ua ug ' +
    'um us uy uz va vc ve vg vi vn vu wf ws ye yt za zm zw'
  ).split(' '),
);

/**
 * A vendor whose country could not be determined: ISO 3166's user-assigned
 * `zz` (CLDR's "Unknown Region"). It is no real country, so `allow: [tag:kr]`
 * never keeps such a service by accident; `tag:zz` selects them all.
 */
export const UNKNOWN_COUNTRY = 'zz';

/** What a service's `country` may be: an ISO code, or `zz` when it is not known. */
export const COUNTRIES: ReadonlySet<string> = new Set([...ISO_COUNTRIES, UNKNOWN_COUNTRY]);

const regionNames = new Intl.DisplayNames(['en'], { type: 'region' });

/** The English name of a country code; "unknown" for `zz`. */
export const countryName = (code: string): string => (code === UNKNOWN_COUNTRY ? 'unknown' : (regionNames.of(code.toUpperCase()) ?? code));

/** Common non-ISO spellings, for a helpful error. */
export const COUNTRY_HINTS: Readonly<Record<string, string>> = { uk: 'gb', en: 'gb', el: 'gr' };

/**
 * Every service carries exactly one of these: it says what kind of ban the
 * service belongs to. `doh-bypass` names are not AI services; they are the
 * resolvers a client could use to go around this one.
 */
export const CLASS_TAGS = ['genai', 'doh-bypass'] as const;

/**
 * What a service does. No two-letter tags: those are countries. A service
 * is catalogued when it is AI-first; an office suite with an AI button is not.
 */
export const KIND_TAGS = [
  'chat', // a chat assistant people talk to
  'multi-model', // a chat front-end offering several vendors' models in one place
  'search', // AI answer engine
  'code', // coding assistant, AI IDE, coding agent or app builder
  'writing', // writing, paraphrasing, copy and humanising
  'translation', // LLM and neural machine translation
  'image',
  'video',
  'voice', // speech synthesis, voice cloning, voice agents
  'music',
  'avatar', // talking heads and digital humans
  'meeting', // meeting note-takers and interview copilots
  'transcription', // speech to text, subtitles
  'companion', // character / role-play / companion chat
  'agent', // autonomous agent that acts for the user
  'browser', // AI browsers and browsing agents
  'api', // a model API developers call
  'inference', // hosted inference for third-party models
  'router', // one API in front of many model providers (routers, gateways, resellers)
  'model-hub', // model and dataset downloads (what a research cluster keeps when chat is banned)
  'app-hosting', // user apps published on an AI platform's own domain (Spaces, *.lovable.app)
  'education', // tutoring, homework and study helpers
  'enterprise', // enterprise AI platforms and workplace assistants (private GPTs, knowledge agents)
] as const;

export const KNOWN_TAGS: ReadonlySet<string> = new Set<string>([...CLASS_TAGS, ...KIND_TAGS]);

/**
 * Where a name was seen. The public lists are read at the commits named in
 * blocklists/review/sources.tsv (the first ten were read earlier from
 * ../shared/data/ai/sources). `vendor-docs` is the vendor's own
 * documentation or site (allow-list / firewall pages, API references,
 * imprint); `review` is the reviewer's own knowledge, to be confirmed by a
 * second source when one appears; `discover` is a name clients queried
 * (`aifence report --discover`). Labels carry an optional `:detail` naming
 * the list file or section.
 */
export const SOURCE_PREFIXES: ReadonlySet<string> = new Set([
  'v2fly', // v2fly/domain-list-community data/
  'adguard', // AdGuard Home blocked services (group "ai")
  'nullgen', // nullgen-inc/ai-blocklist vendors.json
  'radiusmethod', // radiusmethod/shadowai-domains CSVs
  'csdznwrk', // csdznwrk/ai-blocklist
  'mortis2600', // mortis2600/ai-blocklist
  'blackmatrix7', // blackmatrix7 Clash rule lists (routing lists: read with care)
  'tinaponting', // tinaponting/ai-robots-scrapers guides
  'lobe-chat', // lobehub/lobe-chat model-provider base URLs (src/libs/agent-runtime/NAME)
  'shadowwhisperer', // ShadowWhisperer/BlockLists Lists/AI
  'sukkaw', // SukkaW/Surge Source/non_ip/ai.conf (a routing list: read with care)
  'awesome-genai', // steven2358/awesome-generative-ai
  'calegario', // filipecalegario/awesome-generative-ai
  'mahseema', // mahseema/awesome-ai-tools
  'eudk', // eudk/awesome-ai-tools
  'ai-devtools', // jamesmurdza/awesome-ai-devtools
  'e2b-agents', // e2b-dev/awesome-ai-agents
  'free-llm-api', // cheahjs/free-llm-api-resources
  'models-dev', // anomalyco/models.dev providers (API base URLs)
  'japanese-llm', // llm-jp/awesome-japanese-llm
  'huge-ai-blocklist', // laylavish's HUGE AI blocklist (hosts form, XiaomingX/awesome-curated-ai-blocklist)
  'ai-tools-cn', // ikaijua/Awesome-AITools
  'arabic-ai', // azizalzahrani/awesome-arabic-ai
  'arabic-ai-2', // OmarSalah26/Awesome-Arabic-AI
  'ai-discover-kr', // dev3foot/AI-Discover (Korean)
  'ferramentas-ia', // alexand7e/ferramentas-ia (Brazilian)
  'vendor-docs',
  'review',
  'discover',
]);

export const SOURCE_RE = /^[a-z0-9-]+(:[A-Za-z0-9._!-]+)?$/;
export const ID_RE = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$/;
export const DATE_RE = /^\d{4}-\d{2}-\d{2}$/;

export const SERVICE_KEYS: ReadonlySet<string> = new Set([
  'id',
  'name',
  'vendor',
  'country',
  'tags',
  'reviewed',
  'shares',
  'answer',
  'domains',
]);

/** Answers a service may impose whatever the group's block mode: canaries only work with these. */
export const FORCED_ANSWERS = ['nxdomain', 'nodata'] as const;
export const DOMAIN_KEYS: ReadonlySet<string> = new Set(['name', 'exact', 'sources']);

const LABEL_RE = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/;

/**
 * Why `name` is not a catalogue host name, or undefined if it is one:
 * lower case, at least two labels (a bare TLD would block a whole
 * registry), labels of letters, digits, '-' and '_' up to 63 characters,
 * not starting or ending with '-', 253 characters at most.
 */
export function hostnameProblem(name: string): string | undefined {
  if (name !== name.toLowerCase()) return 'must be lower case';
  if (name.endsWith('.')) return 'must not end with a dot';
  if (name.length > 253) return `is ${name.length} characters long; at most 253`;
  const labels = name.split('.');
  if (labels.length < 2) return 'needs at least two labels (a bare TLD would block a whole registry)';
  for (const label of labels) {
    if (label.length === 0) return 'has an empty label';
    if (label.length > 63) return `has a label of ${label.length} characters; at most 63`;
    if (!LABEL_RE.test(label)) {
      return `has label '${label}'; labels use a-z, 0-9, '-' and '_' and do not start or end with '-' (IDN as punycode)`;
    }
  }
  return undefined;
}
