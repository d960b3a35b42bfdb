import { EventportError } from '@eventport/core';

/** Loads an optional peer dependency, saying which package to install when it is missing. */
export async function importPeer<T>(name: string): Promise<T> {
  try {
    return (await import(name)) as T;
  } catch (error) {
    throw new EventportError(
      'BACKEND_NOT_INSTALLED',
      `this Kinesis checkpoint store needs "${name}", which is not installed — npm install ${name}`,
      { cause: error },
    );
  }
}
