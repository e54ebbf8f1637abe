/** Three steps of a few seconds each, with progress and an output: enough to try pause and resume on. */
export function exampleTask() {
  const work = (name: string, seconds: number) =>
    `for i in $(seq 1 ${seconds * 2}); do sleep 0.5; echo "::progress $i/${seconds * 2}"; done; echo "${name} done"`;
  return {
    name: 'Example: three steps you can pause and resume',
    steps: [
      { id: 'prepare', run: work('prepare', 4) },
      { id: 'process', run: `${work('process', 8)}; echo '{"items": 16}' > "$TASK_STEP_OUTPUT"` },
      { id: 'report', run: 'echo "processed $TASK_OUTPUT_PROCESS_ITEMS items"' },
    ],
  };
}
