/**
 * Multi-document YAML in and out. Documents are read as YAML 1.1 (what Kubernetes' YAML decoder speaks: `yes`
 * and `on` are booleans, `0755` is octal) without the timestamp type (Kubernetes keeps those as strings), so a
 * re-written document means to the API server what the input meant. Documents that generate did not change are
 * written back from their parsed form; a changed document is rebuilt from data and keeps only its opening comment lines.
 */
import { isDeepStrictEqual } from 'node:util';
import { parseAllDocuments, type Document } from 'yaml';
import { CcmeshError, ErrorCode } from '../../lib/errors.js';
import { isObj, type Obj } from './resource.js';

const TIMESTAMP_TAG = 'tag:yaml.org,2002:timestamp';
const OPTIONS = {
  version: '1.1',
  customTags: (tags: unknown[]) => tags.filter((t) => !(isObj(t) && t.tag === TIMESTAMP_TAG)),
  maxAliasCount: 100,
} as const;

/** One document of a YAML stream: its parsed node tree and its data. */
export interface YamlDoc {
  readonly node: Document.Parsed;
  readonly data: Obj;
  /** The comment lines opening the document (without `#`), kept when the document is rewritten. */
  readonly leadingComment: string | undefined;
}

/** The `#` lines at the start of a document's source, before its first content line. */
function leadingComment(source: string): string | undefined {
  const lines: string[] = [];
  for (const raw of source.split('\n')) {
    const line = raw.replace(/\r$/, '');
    if (line.startsWith('#')) lines.push(line.slice(1));
    else if (line.trim() !== '' && line.trim() !== '---') break;
  }
  return lines.length > 0 ? lines.join('\n') : undefined;
}

/** Parses every non-empty document of `text`; each must be a mapping (a Kubernetes object). */
export function parseYamlStream(text: string, file: string): YamlDoc[] {
  const out: YamlDoc[] = [];
  let prevEnd = 0;
  parseAllDocuments(text, OPTIONS as never).forEach((node, i) => {
    const start = prevEnd;
    prevEnd = node.range[2];
    const problem = node.errors[0];
    // The library's message ends in a code frame (the offending line, possibly megabytes long): its first line only.
    if (problem) throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `${file}: document ${i + 1} is not valid YAML: ${firstLine(problem.message)}`);
    const data: unknown = node.contents === null ? null : node.toJS({ maxAliasCount: 100 });
    if (data === null || data === undefined) return; // an empty document, e.g. after a trailing "---"
    if (!isObj(data)) throw new CcmeshError(ErrorCode.INPUT_MALFORMED, `${file}: document ${i + 1} is not a mapping (a Kubernetes object)`);
    out.push({ node: node as Document.Parsed, data, leadingComment: leadingComment(text.slice(start, node.range[1])) });
  });
  return out;
}

/**
 * Renders the documents, replacing the data of those whose entry in `replaced` differs from what was parsed.
 * Returns undefined when nothing changed, so the caller can keep the input bytes as they were.
 */
export function renderYamlStream(docs: readonly YamlDoc[], replaced: readonly Obj[]): string | undefined {
  if (docs.every((d, i) => isDeepStrictEqual(d.data, replaced[i]))) return undefined;
  return docs
    .map((d, i) => {
      const next = replaced[i];
      if (next !== undefined && !isDeepStrictEqual(d.data, next)) {
        d.node.contents = d.node.createNode(next) as never;
        d.node.commentBefore = d.leadingComment ?? null;
      }
      const text = d.node.toString({ lineWidth: 0 });
      return i === 0 || text.startsWith('---') ? text : `---\n${text}`;
    })
    .join('');
}

/** The first line of a message without a trailing colon, at most 200 characters. */
function firstLine(message: string): string {
  const line = message.split('\n', 1)[0]!.replace(/:$/, '');
  return line.length > 200 ? `${line.slice(0, 200)}…` : line;
}
