/** Resource and rule names: lower-case DNS labels, as Kubernetes names them. */
export const NAME = /^[a-z0-9]([-a-z0-9.]{0,61}[a-z0-9])?$/;

/** A valid name near an invalid one, for the hint. */
export function suggestName(name: string): string {
  return (
    name
      .toLowerCase()
      .replace(/[^a-z0-9.-]+/g, '-')
      .replace(/^[-.]+|[-.]+$/g, '')
      .slice(0, 63) || 'name'
  );
}
