// Says in words why a file system call failed, for the command line's messages:
//
//   error ADG0001: cannot read 'model.ts': permission denied (EACCES)
//
// Each errno code has its own words, followed by the code itself so that it can be looked
// up. A code without words of its own takes the operating system's description, which Node
// puts in the error's message ("EBUSY: resource busy or locked, open 'x'").

const WORDS: Readonly<Record<string, string>> = {
  ENOENT: "no such file",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  EISDIR: "it is a directory",
  ENOTDIR: "a part of the path is not a directory",
  ELOOP: "too many levels of symbolic links",
  ENAMETOOLONG: "the name is too long",
  EMFILE: "too many open files",
  ENFILE: "too many open files in the system",
  ENOSPC: "no space left on the device",
  EDQUOT: "the disk quota is exceeded",
  EROFS: "the file system is read-only",
  EIO: "an input/output error",
  EBUSY: "the file is busy",
  ETXTBSY: "the file is busy",
  EFBIG: "the file is too large",
  EINVAL: "an invalid argument",
};

/** "permission denied (EACCES)" for an error from node:fs; never throws. */
export function describeFsError(e: unknown): string {
  const code = typeof e === "object" && e !== null && "code" in e ? String((e as NodeJS.ErrnoException).code) : undefined;
  const message = e instanceof Error ? e.message : String(e);
  if (code === undefined) return message || "an unknown error";
  const words = WORDS[code] ?? osDescription(code, message);
  return `${words} (${code})`;
}

/** "EBUSY: resource busy or locked, open 'x'" -> "resource busy or locked". */
function osDescription(code: string, message: string): string {
  const m = message.match(new RegExp(`^${code}: ([^,]+)`));
  return m ? m[1]!.trim() : "an input/output error";
}
