// Reading Prometheus text and PromQL the way the deploy kit's tests need:
// the samples a scrape holds, and the metric selectors a query names.

/** The samples of a Prometheus text exposition: name and labels (no HELP/TYPE lines). */
export function samples(text: string): { name: string; labels: Record<string, string> }[] {
  return text
    .split('\n')
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const m = /^([a-zA-Z_:][\w:]*)(?:\{(.*)\})? \S+$/.exec(l)!;
      const labels: Record<string, string> = {};
      for (const [, k, v] of (m[2] ?? '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v;
      return { name: m[1], labels };
    });
}

/** Each selector in the dashboard's queries: metric name, its label matchers other than `instance`, and the `by (...)` labels around it. */
export function selectors(expr: string): { name: string; matchers: Record<string, string>; by: string[] }[] {
  const by = [...expr.matchAll(/by \(([^)]*)\)/g)].flatMap((m) => m[1].split(',').map((l) => l.trim())).filter((l) => l !== 'le');
  return [...expr.matchAll(/(aifence_\w+)\{([^}]*)\}/g)].map((m) => {
    const matchers: Record<string, string> = {};
    for (const [, k, v] of m[2].matchAll(/(\w+)="([^"]*)"/g)) if (k !== 'instance') matchers[k] = v;
    return { name: m[1], matchers, by };
  });
}
