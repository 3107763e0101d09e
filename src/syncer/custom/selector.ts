// Label selector strings (`a=b,c!=d,e in (x,y),!f,g`) matched against labels, as kubectl -l reads them.

type Requirement = (labels: Record<string, string>) => boolean;

export function parseSelector(selector: string): (labels: Record<string, string>) => boolean {
  const reqs: Requirement[] = [];
  const parts = selector.match(/([^,(]+(\([^)]*\))?)/g) ?? [];
  for (const raw of parts.map((p) => p.trim()).filter(Boolean)) {
    let m: RegExpMatchArray | null;
    if ((m = raw.match(/^([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)$/))) {
      const [, key, op, list] = m as [string, string, string, string];
      const values = list.split(',').map((v) => v.trim());
      reqs.push(op === 'in' ? (l) => key in l && values.includes(l[key] as string) : (l) => !(key in l) || !values.includes(l[key] as string));
    } else if ((m = raw.match(/^([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)$/))) {
      const [, key, op, value] = m as [string, string, string, string];
      reqs.push(op === '!=' ? (l) => l[key] !== value : (l) => l[key] === value);
    } else if ((m = raw.match(/^!([\w./-]+)$/))) {
      const key = m[1] as string;
      reqs.push((l) => !(key in l));
    } else if ((m = raw.match(/^([\w./-]+)$/))) {
      const key = m[1] as string;
      reqs.push((l) => key in l);
    } else {
      throw new Error(`cannot read label selector '${selector}' at '${raw}'`);
    }
  }
  return (labels) => reqs.every((r) => r(labels));
}
