/**
 * What a policy set can read of a request, found in its policies' JSON form (Cedar's EST)
 * once per load: which entity tags (`getTag("…")`/`hasTag("…")` with a literal name) and
 * which context attributes (`context.x`, `context["x"]`, `context has x`). Cedar decides
 * from these alone, so they are all a decision is handed, and all its memo key holds.
 * Anything this cannot pin to a name (a tag named by an expression, `context` used as a
 * whole, a shape it does not know) reads everything of that kind: `undefined`.
 */
export interface PolicyReads {
  /** Tag names read on any entity, or undefined: every tag. */
  readonly tags: ReadonlySet<string> | undefined;
  /** Context attributes read, or undefined: the whole context. */
  readonly context: ReadonlySet<string> | undefined;
}

export function policyReads(policies: readonly unknown[]): PolicyReads {
  const tags = new Set<string>();
  const context = new Set<string>();
  let allTags = false;
  let allContext = false;

  const expression = (node: unknown): void => {
    if (Array.isArray(node)) {
      node.forEach(expression);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [op, arg] of Object.entries(node)) {
      if (op === 'Value') continue; // a literal: nothing of the request
      if (op === 'Var') {
        // Reached only when `context` is not read attribute by attribute (e.g. `context == {}`).
        if (arg === 'context') allContext = true;
        continue;
      }
      if (op === 'Record' && arg !== null && typeof arg === 'object' && !Array.isArray(arg)) {
        // Its keys are attribute names, not operators.
        Object.values(arg).forEach(expression);
        continue;
      }
      const operands = arg as { left?: unknown; attr?: unknown; right?: unknown } | null;
      if ((op === '.' || op === 'has') && isContext(operands?.left)) {
        // `context has a.b` reads `a` (its EST names the path).
        const attr = Array.isArray(operands!.attr) ? operands!.attr[0] : operands!.attr;
        if (typeof attr === 'string') context.add(attr);
        else allContext = true;
        continue;
      }
      if (op === 'getTag' || op === 'hasTag') {
        const name = (operands?.right as { Value?: unknown } | undefined)?.Value;
        if (typeof name === 'string' && Object.keys(operands!.right as object).length === 1) tags.add(name);
        else allTags = true;
      }
      expression(arg);
    }
  };

  for (const policy of policies) {
    const conditions = (policy as { conditions?: unknown }).conditions;
    if (!Array.isArray(conditions)) return { tags: undefined, context: undefined }; // a shape this does not know
    for (const condition of conditions) expression((condition as { body?: unknown } | null)?.body ?? condition);
  }
  return { tags: allTags ? undefined : tags, context: allContext ? undefined : context };
}

function isContext(node: unknown): boolean {
  return node !== null && typeof node === 'object' && (node as { Var?: unknown }).Var === 'context' && Object.keys(node).length === 1;
}
