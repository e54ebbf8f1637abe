/** The rooms of src/ and what each may import (docs/design.md). `npm run lint:deps` checks them. */
const ROOMS = '^src/(protocol|runner|control|cli|extension)/';

module.exports = {
  forbidden: [
    {
      name: 'protocol-imports-nothing-of-ours',
      comment: 'src/protocol (file formats, schemas, transitions, files, lock, views, process groups) imports no other folder of src/.',
      severity: 'error',
      from: { path: '^src/protocol/' },
      to: { path: ROOMS, pathNot: '^src/protocol/' },
    },
    {
      name: 'runner-imports-protocol-only',
      comment: 'src/runner imports src/protocol only.',
      severity: 'error',
      from: { path: '^src/runner/' },
      to: { path: ROOMS, pathNot: '^src/(runner|protocol)/' },
    },
    {
      name: 'control-imports-protocol-only',
      comment: "src/control (a controller's use cases) imports src/protocol only.",
      severity: 'error',
      from: { path: '^src/control/' },
      to: { path: ROOMS, pathNot: '^src/(control|protocol)/' },
    },
    {
      name: 'cli-imports-control-protocol-and-runner-entry',
      comment: "src/cli imports src/control, src/protocol and the runner's entry (src/runner/entry.ts), nothing else of src/runner.",
      severity: 'error',
      from: { path: '^src/cli/' },
      to: { path: ROOMS, pathNot: '^src/(cli|control|protocol)/|^src/runner/entry\\.ts$' },
    },
    {
      name: 'extension-imports-control-and-protocol-only',
      comment: 'src/extension imports src/control and src/protocol, never src/runner or src/cli.',
      severity: 'error',
      from: { path: '^src/extension/' },
      to: { path: ROOMS, pathNot: '^src/(extension|control|protocol)/' },
    },
    {
      name: 'vscode-only-in-extension',
      comment: 'Only src/extension may import vscode: elsewhere (the runner, the CLI) there is no VS Code host to provide it.',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/extension/' },
      to: { path: '^vscode$|/@types/vscode/' },
    },
    {
      name: 'no-circular',
      comment: 'No circular imports inside src/, type-only imports included.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^src/', circular: true },
    },
    {
      name: 'src-imports-no-tests-or-benchmarks',
      comment: 'src/ imports nothing from test/ or bench/: they are not shipped.',
      severity: 'error',
      from: { path: '^src/' },
      to: { path: '^(test|bench)/' },
    },
  ],
  options: {
    // Type-only imports count too: they tie modules together as much as value imports do.
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    doNotFollow: { path: 'node_modules' },
  },
};
