import { StsError } from './sts-wire';

/**
 * AWS's input validation: every violated constraint of a request is collected and
 * reported in one `ValidationError`, worded the way STS words it.
 */
export class Constraints {
  private readonly problems: string[] = [];

  /** Records a null value; returns whether the value is present. */
  required(member: string, value: string | undefined): value is string {
    if (value === undefined) this.problems.push(`Value null at '${member}' failed to satisfy constraint: Member must not be null`);
    return value !== undefined;
  }

  length(member: string, value: string | undefined, min: number, max: number): void {
    if (value === undefined) return;
    if (value.length < min) this.fail(member, value, `Member must have length greater than or equal to ${min}`);
    else if (value.length > max) this.fail(member, value, `Member must have length less than or equal to ${max}`);
  }

  count(member: string, values: readonly string[], max: number): void {
    if (values.length > max) this.fail(member, `[${values.join(', ')}]`, `Member must have length less than or equal to ${max}`);
  }

  pattern(member: string, value: string | undefined, pattern: RegExp, shown: string): void {
    if (value !== undefined && !pattern.test(value)) this.fail(member, value, `Member must satisfy regular expression pattern: ${shown}`);
  }

  /** An integer in [min, max]; returns it, or undefined when absent or invalid. */
  integer(member: string, value: string | undefined, min: number, max: number): number | undefined {
    if (value === undefined) return undefined;
    const number = Number(value);
    if (!/^-?\d+$/.test(value) || !Number.isSafeInteger(number)) {
      this.fail(member, value, 'Member must be an integer');
      return undefined;
    }
    if (number < min) this.fail(member, value, `Member must have value greater than or equal to ${min}`);
    else if (number > max) this.fail(member, value, `Member must have value less than or equal to ${max}`);
    else return number;
    return undefined;
  }

  /** Throws the collected problems as one ValidationError. */
  check(): void {
    const count = this.problems.length;
    if (count === 0) return;
    throw new StsError('ValidationError', `${count} validation error${count === 1 ? '' : 's'} detected: ${this.problems.join('; ')}`);
  }

  private fail(member: string, value: string, constraint: string): void {
    // Long values (tokens, policies) are not echoed back.
    const shown = value.length > 256 ? '' : ` '${value}'`;
    this.problems.push(`Value${shown} at '${member}' failed to satisfy constraint: ${constraint}`);
  }
}

/** `Prefix.member.1`, `Prefix.member.2`, … in order, stopping at the first gap. */
export function members(params: Readonly<Partial<Record<string, string>>>, prefix: string, suffix = ''): string[] {
  const values: string[] = [];
  for (let n = 1; ; n += 1) {
    const value = params[`${prefix}.member.${n}${suffix}`];
    if (value === undefined) return values;
    values.push(value);
  }
}
