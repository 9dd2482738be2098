/** YAML streams keep their meaning for the API server (YAML 1.1) and unchanged input stays byte-identical. */
import t from 'tap';
import { parseYamlStream, renderYamlStream } from './yaml-stream.js';

const TEXT = `# head comment
a: yes
d: 2024-01-02
s: "on"
---
---
kind: X
b: 0755
`;

void t.test('documents parse as YAML 1.1 without timestamps; empty documents are dropped', (t) => {
  const docs = parseYamlStream(TEXT, 'f.yaml');
  t.same(docs.map((d) => d.data), [{ a: true, d: '2024-01-02', s: 'on' }, { kind: 'X', b: 493 }]);
  t.end();
});

void t.test('nothing changed → undefined; a changed document is rewritten so that it reads back the same', (t) => {
  const docs = parseYamlStream(TEXT, 'f.yaml');
  t.equal(renderYamlStream(docs, docs.map((d) => structuredClone(d.data))), undefined);
  const next = [{ ...docs[0]!.data, added: 'yes', n: 'n' }, docs[1]!.data];
  const out = renderYamlStream(docs, next)!;
  t.match(out, /^# head comment\n/, 'document comment before the content kept');
  t.match(out, /added: "yes"/, 'a string that YAML 1.1 would read as a boolean is quoted');
  t.same(parseYamlStream(out, 'out.yaml').map((d) => d.data), next);
  t.end();
});

void t.test('invalid YAML and non-mapping documents are refused', (t) => {
  t.throws(() => parseYamlStream('a: [1\n', 'bad.yaml'), /bad.yaml: document 1 is not valid YAML/);
  t.throws(() => parseYamlStream('a: 1\na: 2\n', 'dup.yaml'), /dup.yaml: document 1 is not valid YAML/);
  t.throws(() => parseYamlStream('a: 1\n---\n- x\n', 'list.yaml'), /list.yaml: document 2 is not a mapping/);
  t.end();
});
