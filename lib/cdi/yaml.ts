/**
 * The YAML that CDI spec files are written in, and no more: block mappings and sequences
 * (a sequence may sit at its key's indentation, an item may open a mapping on its own line),
 * plain, single- and double-quoted scalars on one line, one-line flow collections (`[]`,
 * `{}`, `[a, b]`), comments and document markers. Anchors, aliases, tags, block scalars
 * (`|`, `>`) and multi-line scalars are refused with the line they are on.
 *
 * Plain scalars come back as `PlainScalar`, untyped: whether `0644` is a number or a string is
 * for the reader that knows the field to decide, as a schema-driven YAML decoder does.
 */

/** An unquoted scalar's text, typed by whoever knows what the field holds. */
export class PlainScalar {
  constructor(readonly text: string) {}
}

export type YamlValue = PlainScalar | string | null | YamlValue[] | { [key: string]: YamlValue };

export class YamlError extends Error {
  constructor(message: string, line?: number) {
    super(line === undefined ? message : `line ${line}: ${message}`);
  }
}

interface Line {
  /** 1-based, for errors. */
  number: number;
  indent: number;
  text: string;
}

/** Cuts a trailing comment: a `#` at the start or after a blank, outside quotes. */
function stripComment(text: string): string {
  let quote: string | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
    } else if (c === '"' || c === "'") {
      quote = c;
    } else if (c === '#' && (i === 0 || text[i - 1] === ' ' || text[i - 1] === '\t')) {
      return text.slice(0, i);
    }
  }
  return text;
}

function toLines(source: string): Line[] {
  const lines: Line[] = [];
  let documents = 0;
  source.replace(/^\uFEFF/, '').split(/\r?\n/).forEach((raw, index) => {
    const number = index + 1;
    const text = stripComment(raw).replace(/\s+$/, '');
    if (!text.trim()) return;
    if (/^(---|\.\.\.)(\s|$)/.test(text)) {
      if (text.startsWith('---') && (documents++ > 0 || lines.length > 0)) throw new YamlError('only one document per file', number);
      if (text.slice(3).trim()) throw new YamlError('content after a document marker', number);
      return;
    }
    if (text.startsWith('%')) throw new YamlError('directives are not supported', number);
    const indent = text.length - text.replace(/^ +/, '').length;
    if (text[indent] === '\t') throw new YamlError('tabs cannot indent YAML', number);
    lines.push({ number, indent, text: text.slice(indent) });
  });
  return lines;
}

const SEQUENCE_ITEM = /^-( |$)/;

/** The `key: rest` split of a mapping line, or undefined when the line is no mapping entry. */
function splitKey(text: string, line: number): { key: string; rest: string } | undefined {
  if (text.startsWith('"') || text.startsWith("'")) {
    const { value, end } = quoted(text, 0, line);
    const after = text.slice(end);
    const m = /^\s*:( |$)/.exec(after);
    if (!m) return undefined;
    return { key: value, rest: after.slice(m[0].length).trim() };
  }
  if (/^[[{]/.test(text)) return undefined;
  const m = /:( |$)/.exec(text);
  if (!m) return undefined;
  return { key: plainText(text.slice(0, m.index).trim(), line), rest: text.slice(m.index + m[0].length).trim() };
}

function plainText(text: string, line: number): string {
  if (/^[&*!|>@`]/.test(text)) throw new YamlError(`"${text[0]}" (anchors, aliases, tags, block scalars) is not supported`, line);
  return text;
}

/** A quoted scalar starting at `start`: its value and the index after its closing quote. */
function quoted(text: string, start: number, line: number): { value: string; end: number } {
  const q = text[start]!;
  let out = '';
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i]!;
    if (q === "'") {
      if (c === "'") {
        if (text[i + 1] === "'") {
          out += "'";
          i++;
          continue;
        }
        return { value: out, end: i + 1 };
      }
      out += c;
      continue;
    }
    if (c === '"') return { value: out, end: i + 1 };
    if (c !== '\\') {
      out += c;
      continue;
    }
    const e = text[++i];
    const simple: Record<string, string> = { n: '\n', t: '\t', r: '\r', '0': '\0', '"': '"', '\\': '\\', '/': '/', ' ': ' ', e: '\x1b', a: '\x07', b: '\b', f: '\f', v: '\v' };
    if (e !== undefined && e in simple) {
      out += simple[e];
    } else if (e === 'x' || e === 'u' || e === 'U') {
      const digits = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = text.slice(i + 1, i + 1 + digits);
      if (!new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) throw new YamlError(`bad \\${e} escape`, line);
      out += String.fromCodePoint(parseInt(hex, 16));
      i += digits;
    } else {
      throw new YamlError(`unknown escape \\${e ?? ''}`, line);
    }
  }
  throw new YamlError('a quoted scalar must end on its line (multi-line scalars are not supported)', line);
}

function setKey(map: { [key: string]: YamlValue }, key: string, value: YamlValue, line: number): void {
  if (Object.prototype.hasOwnProperty.call(map, key)) throw new YamlError(`duplicate key "${key}"`, line);
  // defineProperty: a key named __proto__ is data, not the prototype
  Object.defineProperty(map, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A one-line flow collection or scalar, as the value after `key:` or `- `. */
function inlineValue(text: string, line: number): YamlValue {
  let i = 0;
  const skip = () => {
    while (text[i] === ' ') i++;
  };
  const value = (inFlow: boolean): YamlValue => {
    skip();
    const c = text[i];
    if (c === '[') {
      i++;
      const out: YamlValue[] = [];
      skip();
      if (text[i] === ']') {
        i++;
        return out;
      }
      for (;;) {
        out.push(value(true));
        skip();
        if (text[i] === ',') {
          i++;
          skip();
          if (text[i] === ']') {
            i++;
            return out;
          }
          continue;
        }
        if (text[i] === ']') {
          i++;
          return out;
        }
        throw new YamlError('a flow sequence must close on its line', line);
      }
    }
    if (c === '{') {
      i++;
      const out: { [key: string]: YamlValue } = {};
      skip();
      if (text[i] === '}') {
        i++;
        return out;
      }
      for (;;) {
        skip();
        const key = value(true);
        const keyText = key instanceof PlainScalar ? key.text : key;
        if (typeof keyText !== 'string') throw new YamlError('a flow mapping key must be a scalar', line);
        skip();
        if (text[i] !== ':') throw new YamlError(`expected ":" after "${keyText}"`, line);
        i++;
        setKey(out, keyText, value(true), line);
        skip();
        if (text[i] === ',') {
          i++;
          skip();
          if (text[i] === '}') {
            i++;
            return out;
          }
          continue;
        }
        if (text[i] === '}') {
          i++;
          return out;
        }
        throw new YamlError('a flow mapping must close on its line', line);
      }
    }
    if (c === '"' || c === "'") {
      const q = quoted(text, i, line);
      i = q.end;
      return q.value;
    }
    const start = i;
    // a plain scalar runs to the end, or, inside a flow collection, to the next indicator
    while (i < text.length && !(inFlow && /[,\]}]/.test(text[i]!)) && !(inFlow && text[i] === ':' && (text[i + 1] === ' ' || /[,\]}]/.test(text[i + 1] ?? ',')))) i++;
    const raw = text.slice(start, i).trim();
    return scalarOf(plainText(raw, line));
  };
  const result = value(false);
  skip();
  if (i < text.length) throw new YamlError(`unexpected "${text.slice(i)}"`, line);
  return result;
}

function scalarOf(text: string): YamlValue {
  return text === '' || text === '~' || text === 'null' || text === 'Null' || text === 'NULL' ? null : new PlainScalar(text);
}

class Parser {
  private i = 0;
  constructor(private readonly lines: Line[]) {}

  parse(): YamlValue {
    if (this.lines.length === 0) return null;
    const value = this.node(this.lines[0]!.indent);
    const extra = this.lines[this.i];
    if (extra) throw new YamlError('unexpected indentation', extra.number);
    return value;
  }

  /** The node whose first line is the current one, at `indent`. */
  private node(indent: number): YamlValue {
    const line = this.lines[this.i]!;
    if (SEQUENCE_ITEM.test(line.text)) return this.sequence(indent);
    if (splitKey(line.text, line.number)) return this.mapping(indent);
    this.i++;
    const next = this.lines[this.i];
    if (next && next.indent > indent) throw new YamlError('multi-line scalars are not supported', next.number);
    return inlineValue(line.text, line.number);
  }

  /** The value of a `key:` or `-` with nothing after it: the deeper lines, or null. */
  private nested(indent: number, allowSameIndentSequence: boolean): YamlValue {
    const next = this.lines[this.i];
    if (!next) return null;
    if (next.indent > indent) return this.node(next.indent);
    if (allowSameIndentSequence && next.indent === indent && SEQUENCE_ITEM.test(next.text)) return this.sequence(indent);
    return null;
  }

  private sequence(indent: number): YamlValue[] {
    const out: YamlValue[] = [];
    for (let line = this.lines[this.i]; line && line.indent === indent && SEQUENCE_ITEM.test(line.text); line = this.lines[this.i]) {
      const rest = line.text.slice(1).replace(/^ +/, '');
      if (!rest) {
        this.i++;
        out.push(this.nested(indent, false));
        continue;
      }
      // "- key: value" or "- - x": the item is a collection starting on this line; parse it
      // as if its text began on a line of its own, indented to where it stands
      const innerIndent = indent + (line.text.length - rest.length);
      if (SEQUENCE_ITEM.test(rest) || splitKey(rest, line.number)) {
        this.lines[this.i] = { number: line.number, indent: innerIndent, text: rest };
        out.push(this.node(innerIndent));
        continue;
      }
      this.i++;
      const value = inlineValue(rest, line.number);
      const next = this.lines[this.i];
      if (next && next.indent > indent) throw new YamlError('multi-line scalars are not supported', next.number);
      out.push(value);
    }
    const stray = this.lines[this.i];
    if (stray && stray.indent > indent) throw new YamlError('unexpected indentation', stray.number);
    return out;
  }

  private mapping(indent: number): { [key: string]: YamlValue } {
    const out: { [key: string]: YamlValue } = {};
    for (let line = this.lines[this.i]; line && line.indent === indent; line = this.lines[this.i]) {
      const entry = splitKey(line.text, line.number);
      if (!entry) {
        if (SEQUENCE_ITEM.test(line.text)) break; // a sequence at its key's indentation ends here
        throw new YamlError(`expected "key: value", got "${line.text}"`, line.number);
      }
      this.i++;
      if (entry.rest) {
        const value = inlineValue(entry.rest, line.number);
        const next = this.lines[this.i];
        if (next && next.indent > indent) throw new YamlError('multi-line scalars are not supported', next.number);
        setKey(out, entry.key, value, line.number);
      } else {
        setKey(out, entry.key, this.nested(indent, true), line.number);
      }
    }
    const stray = this.lines[this.i];
    if (stray && stray.indent > indent) throw new YamlError('unexpected indentation', stray.number);
    return out;
  }
}

/** Parses one YAML document of the subset above. */
export function parseYaml(source: string): YamlValue {
  return new Parser(toLines(source)).parse();
}
