import { sqlError, type SourcePosition } from './sql-error';

/**
 * SQL text as tokens with positions. Keywords are not told apart from identifiers here: the parser
 * compares an identifier's upper-case form, so `select` and `SELECT` are one keyword while column
 * names keep their case (Flink SQL identifiers are case-sensitive).
 */
export type TokenKind = 'ident' | 'quoted' | 'string' | 'number' | 'op' | 'eof';

export interface Token extends SourcePosition {
  readonly kind: TokenKind;
  /** The identifier as written, the string's value (quotes removed), the number's text, or the operator. */
  readonly text: string;
  /** Upper-case form of an unquoted identifier (keyword comparisons); the text otherwise. */
  readonly upper: string;
  /** Offset of the token's first character in the text. */
  readonly offset: number;
}

const OPERATORS = ['<>', '!=', '<=', '>=', '||', '=>', '(', ')', ',', '.', ';', '*', '+', '-', '/', '%', '=', '<', '>'];

export function tokenize(text: string): Token[] {
  const tokens: Token[] = [];
  let i = 0;
  let line = 1;
  let lineStart = 0;
  const at = (offset: number): SourcePosition => ({ line, column: offset - lineStart + 1 });
  const advance = (to: number): void => {
    for (; i < to; i++) {
      if (text[i] === '\n') {
        line += 1;
        lineStart = i + 1;
      }
    }
  };
  const push = (kind: TokenKind, start: number, startPos: SourcePosition, value: string): void => {
    tokens.push({ kind, text: value, upper: kind === 'ident' ? value.toUpperCase() : value, offset: start, ...startPos });
  };

  while (i < text.length) {
    const c = text[i]!;
    if (/\s/.test(c)) {
      advance(i + 1);
      continue;
    }
    if (text.startsWith('--', i)) {
      const end = text.indexOf('\n', i);
      advance(end === -1 ? text.length : end);
      continue;
    }
    if (text.startsWith('/*', i)) {
      const end = text.indexOf('*/', i + 2);
      if (end === -1) throw sqlError('the comment is not closed: add */', at(i));
      advance(end + 2);
      continue;
    }
    const start = i;
    const pos = at(i);
    if (/[A-Za-z_]/.test(c)) {
      const m = /^[A-Za-z_][A-Za-z0-9_$]*/.exec(text.slice(i))!;
      advance(i + m[0].length);
      push('ident', start, pos, m[0]);
      continue;
    }
    if (/[0-9]/.test(c) || (c === '.' && /[0-9]/.test(text[i + 1] ?? ''))) {
      const m = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?/.exec(text.slice(i))!;
      advance(i + m[0].length);
      push('number', start, pos, m[0]);
      continue;
    }
    if (c === "'" || c === '`') {
      let value = '';
      let j = i + 1;
      for (;;) {
        if (j >= text.length) throw sqlError(c === "'" ? 'the string is not closed: add a quote (write \'\' for a quote inside)' : 'the quoted name is not closed: add a backtick', pos);
        if (text[j] === c) {
          if (text[j + 1] === c) {
            value += c;
            j += 2;
            continue;
          }
          break;
        }
        value += text[j];
        j += 1;
      }
      advance(j + 1);
      push(c === "'" ? 'string' : 'quoted', start, pos, value);
      continue;
    }
    if (c === '"') throw sqlError('double quotes are not SQL strings here: write \'text\' for a string or `name` for a quoted name (as in Flink SQL)', pos);
    const op = OPERATORS.find((o) => text.startsWith(o, i));
    if (!op) throw sqlError(`unexpected character '${c}'`, pos);
    advance(i + op.length);
    push('op', start, pos, op);
  }
  push('eof', text.length, at(text.length), '');
  return tokens;
}
