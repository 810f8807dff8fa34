/**
 * Shell-style globs (`*` any run, `?` one character, everything else literal) as anchored regular
 * expressions: the one matcher for vehicle patterns in notification rules and token scopes.
 */
export function globToRegExp(glob: string): RegExp {
  const body = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${body}$`);
}
