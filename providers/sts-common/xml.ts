import { SaxesParser } from 'saxes';

/** Deeper than any STS answer (5 levels) by a wide margin; deeper is refused. */
export const MAX_XML_DEPTH = 16;

/** An element: its text (trimmed) when it has no child elements, else its children by name. */
export type XmlValue = string | XmlObject | XmlValue[];
export interface XmlObject {
  [name: string]: XmlValue;
}

interface Open {
  readonly name: string;
  readonly children: XmlObject;
  hasChildren: boolean;
  text: string;
}

/**
 * Parses an STS Query answer (or its error document) into plain objects, the shape
 * fast-xml-parser gives with `ignoreAttributes`, `parseTagValue: false` and `trimValues`:
 * an element with only text is that text, trimmed; one with child elements is an object of
 * them by name (a repeated name becomes an array; text beside child elements is `#text`).
 * Attributes, comments and processing instructions are dropped; CDATA is text.
 *
 * saxes is a strict, conforming XML parser: anything not well-formed (an unclosed tag, a
 * second root, an undefined entity, text outside the root) throws, as does nesting deeper
 * than MAX_XML_DEPTH. The five predefined entities and character references are decoded;
 * saxes never expands DTD entities (and callers refuse a DOCTYPE before parsing). Objects
 * are plain, and an element named `__proto__` is just a name (an own property). About a quarter of
 * fast-xml-parser's CPU per answer (docs/performance.md).
 */
export function parseXmlDocument(text: string): XmlObject {
  const root: Open = { name: '', children: {}, hasChildren: false, text: '' };
  const stack: Open[] = [root];
  let top = root;
  const parser = new SaxesParser({ position: false });
  parser.on('opentag', (tag) => {
    if (stack.length > MAX_XML_DEPTH) throw new Error(`XML nested deeper than ${MAX_XML_DEPTH} elements`);
    top.hasChildren = true;
    top = { name: tag.name, children: {}, hasChildren: false, text: '' };
    stack.push(top);
  });
  parser.on('text', (chunk) => {
    top.text += chunk;
  });
  parser.on('cdata', (chunk) => {
    top.text += chunk;
  });
  parser.on('closetag', () => {
    const element = stack.pop()!;
    top = stack[stack.length - 1]!;
    const text = element.text.trim();
    let value: XmlValue;
    if (element.hasChildren) {
      if (text !== '') define(element.children, '#text', text);
      value = element.children;
    } else {
      value = text;
    }
    const siblings = top.children;
    // An element's own value is a string or an object, so an array here is a repeated name.
    const existing = Object.hasOwn(siblings, element.name) ? siblings[element.name] : undefined;
    if (existing === undefined) define(siblings, element.name, value);
    else if (Array.isArray(existing)) existing.push(value);
    else define(siblings, element.name, [existing, value]);
  });
  parser.on('error', (err) => {
    throw err;
  });
  parser.write(text).close();
  return root.children;
}

/**
 * Plain objects (fast properties; `Object.create(null)` would put each in V8's slow
 * dictionary mode), so a name is only special when it is `__proto__`: that one is defined as
 * an own property rather than assigned, which would set the prototype.
 */
function define(object: XmlObject, name: string, value: XmlValue): void {
  if (name === '__proto__') Object.defineProperty(object, name, { value, enumerable: true, writable: true, configurable: true });
  else object[name] = value;
}
