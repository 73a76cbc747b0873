// Checks Grafana dashboard JSON files against Grafana's own dashboard model: the TypeScript types of
// @grafana/schema, which Grafana generates from its CUE schema (the package ships types, no runtime
// validator). Each file becomes a TypeScript literal typed as the schema's Dashboard, and each panel's
// options and fieldConfig.defaults.custom as that panel plugin's Options and FieldConfig; the compiler then
// reports every missing required field, wrong type or enum value, and unknown field (excess property checks).
// Panel types without a schema here are refused, so that nothing goes unchecked.
//   node validate.mjs dashboard.json...      exit 0: all valid; 1: errors listed on stderr; 2: bad usage
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const here = path.dirname(fileURLToPath(import.meta.url));
// panel plugin -> its generated types; custom: whether it has a FieldConfig (stat has none)
const PANELS = {
  timeseries: { mod: '@grafana/schema/dist/esm/raw/composable/timeseries/panelcfg/x/TimeSeriesPanelCfg_types.gen', custom: true },
  stat: { mod: '@grafana/schema/dist/esm/raw/composable/stat/panelcfg/x/StatPanelCfg_types.gen', custom: false },
  table: { mod: '@grafana/schema/dist/esm/raw/composable/table/panelcfg/x/TablePanelCfg_types.gen', custom: true },
};
// JSON holds an enum's value ("list"), which TypeScript's nominal string enums refuse: Json<T> is T with each
// string enum replaced by the union of its values (`${E}`), everything else (required fields, unknown
// fields, number and literal types) left as the schema says.
const JSON_TYPE = `type Json<T> = T extends string ? \`\${T}\` : T extends ReadonlyArray<infer U> ? Array<Json<U>>
  : T extends object ? { [K in keyof T]: Json<T[K]> } : T;`;

const files = process.argv.slice(2);
if (files.length === 0) {
  console.error('usage: node validate.mjs dashboard.json...');
  process.exit(2);
}

const work = fs.mkdtempSync(path.join(here, '.check-'));
const problems = [];
const sources = [];
try {
  files.forEach((file, n) => {
    let dash;
    try {
      dash = JSON.parse(fs.readFileSync(file, 'utf8'));
    } catch (e) {
      problems.push(`${file}: not JSON: ${e.message}`);
      return;
    }
    const lines = [`import type { Dashboard } from '@grafana/schema';`, JSON_TYPE];
    Object.entries(PANELS).forEach(([type, p]) => lines.push(`import type * as ${type} from '${p.mod}';`));
    lines.push(`export const dashboard: Json<Dashboard> = ${JSON.stringify(dash, null, 2)};`);
    const panels = (dash.panels ?? []).flatMap((p) => (p.type === 'row' ? [p, ...(p.panels ?? [])] : [p]));
    panels.forEach((p, i) => {
      if (p.type === 'row') return;
      if (!PANELS[p.type]) {
        problems.push(`${file}: panel "${p.title}": type ${p.type} has no schema in validate.mjs`);
        return;
      }
      lines.push(`// panel ${p.id} "${p.title}"`);
      lines.push(`export const options_${i}: Json<${p.type}.Options> = ${JSON.stringify(p.options ?? {})};`);
      if (PANELS[p.type].custom) {
        lines.push(
          `export const custom_${i}: Json<${p.type}.FieldConfig> = ${JSON.stringify(p.fieldConfig?.defaults?.custom ?? {})};`,
        );
      } else if (p.fieldConfig?.defaults?.custom !== undefined) {
        problems.push(`${file}: panel "${p.title}": ${p.type} panels have no fieldConfig.defaults.custom`);
      }
    });
    const src = path.join(work, `dashboard${n}.ts`);
    fs.writeFileSync(src, lines.join('\n') + '\n');
    sources.push({ src, file });
  });

  const program = ts.createProgram(
    sources.map((s) => s.src),
    {
      noEmit: true,
      strict: true,
      skipLibCheck: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.ESNext,
      moduleResolution: ts.ModuleResolutionKind.Bundler,
      types: [],
    },
  );
  const origin = new Map(sources.map((s) => [path.resolve(s.src), s.file]));
  for (const d of ts.getPreEmitDiagnostics(program)) {
    const msg = ts.flattenDiagnosticMessageText(d.messageText, '\n  ');
    if (d.file) {
      const { line } = d.file.getLineAndCharacterOfPosition(d.start ?? 0);
      const text = d.file.text.split('\n');
      // the nearest panel comment above names the panel
      let panel = '';
      for (let l = line; l >= 0; l--) {
        if (text[l].startsWith('// panel ')) {
          panel = ` (${text[l].slice(3)})`;
          break;
        }
      }
      const at = text[line].trim().slice(0, 120);
      problems.push(`${origin.get(path.resolve(d.file.fileName)) ?? d.file.fileName}${panel}: ${msg} (at ${at})`);
    } else {
      problems.push(msg);
    }
  }
} finally {
  fs.rmSync(work, { recursive: true, force: true });
}
if (problems.length > 0) {
  problems.forEach((p) => console.error(p));
  process.exit(1);
}
console.log(`${files.length} dashboard(s) match @grafana/schema`);
