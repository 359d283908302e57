// The Dockerfile read as its instructions: for the test that carries out its
// steps without an engine (test/docker) and the one that builds and runs it
// with podman (test/image).

/** Instructions with continuation lines joined and comments dropped: [OP, rest of the line]. */
export function instructions(text: string): [string, string][] {
  return text
    .replace(/\\\n/g, ' ')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('#'))
    .map((l) => {
      const space = l.indexOf(' ');
      return [l.slice(0, space).toUpperCase(), l.slice(space + 1).trim()];
    });
}

/** The image each stage starts FROM, with `${ARG}` read as the ARG's default. */
export function baseImages(text: string): string[] {
  const args = new Map<string, string>();
  const bases: string[] = [];
  for (const [op, arg] of instructions(text)) {
    if (op === 'ARG' && arg.includes('=')) args.set(arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1));
    if (op === 'FROM') bases.push(arg.split(/\s+/)[0].replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a, b) => args.get(a ?? b) ?? ''));
  }
  return bases;
}

/** The command of the last HEALTHCHECK (its exec form), as the image's config carries it. */
export function healthcheck(text: string): string[] {
  const line = instructions(text).filter(([op]) => op === 'HEALTHCHECK').pop()![1];
  return JSON.parse(line.slice(line.indexOf('CMD') + 3));
}
