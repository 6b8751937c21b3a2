// A tiny HTML builder: every interpolated value is escaped unless it is already Html (built by this
// same tag). Names, metadata, annotations and ids come from upstream payloads, so nothing reaches the
// page unescaped by accident; there is no way to mark a string "safe" other than building it here.

const SAFE = Symbol('html');

export interface Html {
  readonly [SAFE]: true;
  readonly text: string;
}

function trusted(text: string): Html {
  return { [SAFE]: true, text };
}

function isHtml(value: unknown): value is Html {
  return typeof value === 'object' && value !== null && (value as Html)[SAFE] === true;
}

const ENTITIES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

export type Interpolation = Html | string | number | boolean | null | undefined | Interpolation[];

function piece(value: Interpolation): string {
  if (value === null || value === undefined || value === false) return '';
  if (Array.isArray(value)) return value.map(piece).join('');
  if (isHtml(value)) return value.text;
  return escapeHtml(String(value));
}

/** html`<td>${name}</td>`: strings are escaped, Html is kept, arrays are joined, null/false vanish. */
export function html(strings: TemplateStringsArray, ...values: Interpolation[]): Html {
  let out = strings[0];
  values.forEach((value, i) => {
    out += piece(value) + strings[i + 1];
  });
  return trusted(out);
}

/** Static markup of this module's own making (a style sheet), never upstream data. */
export function staticHtml(text: string): Html {
  return trusted(text);
}
