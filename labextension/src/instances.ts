// How the predict form reads what was typed: gcloud's rule for
// --json-instances, which `%%ml predict` follows too. One JSON instance a
// line; several at once as {"instances": [...]}. A one-line list such as
// [5.1, 3.5, 1.4, 0.2] is one instance, never four.

export interface IParsedInstances {
  instances: unknown[];
  /** How the body was read, for an error message: "1 instance, one per line". */
  readAs: string;
}

function counted(n: number): string {
  return n === 1 ? '1 instance' : `${n} instances`;
}

export function parseInstances(text: string): IParsedInstances {
  const trimmed = text.trim();
  if (!trimmed) {
    throw new Error('Give instances: one JSON instance per line, or {"instances": [...]}');
  }
  if (trimmed.startsWith('{')) {
    let whole: any = undefined;
    try {
      whole = JSON.parse(trimmed);
    } catch {
      // Not one object: read line by line below.
    }
    if (whole && typeof whole === 'object' && Array.isArray(whole.instances)) {
      return {
        instances: whole.instances,
        readAs: `${counted(whole.instances.length)} from {"instances": [...]}`
      };
    }
  }
  const lines = trimmed.split('\n').filter(line => line.trim());
  const instances = lines.map((line, i) => {
    try {
      return JSON.parse(line);
    } catch (error) {
      throw new Error(
        `Line ${i + 1} is not JSON (${error instanceof Error ? error.message : error}): ` +
          'give one JSON instance per line, or {"instances": [...]}'
      );
    }
  });
  return { instances, readAs: `${counted(instances.length)}, one per line` };
}
