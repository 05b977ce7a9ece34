/**
 * The output directory of recover: it appears whole or not at all, and never
 * inside (or around) an input.
 *
 *   checkOutputDir(output, inputs)   must not exist or be an empty directory;
 *                                    outside every input by real path
 *   makeTempDir(output, fileMode)    .<name>.recover-<pid>-<rand>/ beside it,
 *                                    with the output's mode whatever the umask
 *   publish(tmp, output, ...)        the report file (fdatasync), fsync tmp,
 *                                    rename tmp → output, fsync the parent
 *
 * Why beside it: a rename within one directory is atomic, so a crash leaves
 * either no output or the whole verified one (and at worst a temp directory
 * whose name says what it is).
 */

import { randomBytes } from 'node:crypto'
import fs from 'node:fs/promises'
import path from 'node:path'
import { AuditError, ERROR_CODES, ioError } from '../../shared/errors.js'
import { assertOutside, createRegular, dirModeFor, makeDirs } from '../../shared/files.js'

function inside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child)
  return rel === '' || (!rel.startsWith('..') && !path.isAbsolute(rel))
}

/** The output must not exist or be an empty directory; never inside an input. */
export async function checkOutputDir(output: string, inputs: string[]): Promise<void> {
  assertOutside(output, inputs) // real paths: a symlink into the input is seen for what it is
  for (const i of inputs) {
    if (inside(output, i) || inside(i, output)) {
      throw new AuditError(
        ERROR_CODES.OPTION_INVALID,
        `output ${output} must be outside the log ${i} (the input is never modified)`,
        { details: { option: 'output' } },
      )
    }
  }
  try {
    const st = await fs.stat(output)
    if (!st.isDirectory() || (await fs.readdir(output)).length > 0) {
      throw new AuditError(
        ERROR_CODES.OUTPUT_EXISTS,
        `${output} exists and is not an empty directory; recover writes a new WAL and never overwrites`,
        { details: { path: output } },
      )
    }
  } catch (err) {
    if (err instanceof AuditError) throw err
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw cannotCreate(output, err)
  }
}

function cannotCreate(output: string, err: unknown): AuditError {
  const errno = (err as NodeJS.ErrnoException).code
  return new AuditError(
    ERROR_CODES.IO,
    `cannot create ${output}: ${errno ?? (err as Error).message} (the new WAL is built in a temp directory beside it, then renamed)`,
    {
      cause: err,
      details: { op: 'create', path: output, errno: errno ?? null },
    },
  )
}

async function fsyncDir(dir: string): Promise<void> {
  const d = await fs.open(dir, 'r')
  try {
    await d.sync()
  } finally {
    await d.close()
  }
}

/** A new, private temp directory beside output (its parents made as needed), with the output's directory mode. */
export async function makeTempDir(output: string, fileMode: number): Promise<string> {
  const parent = path.dirname(output)
  const tmp = path.join(parent, `.${path.basename(output)}.recover-${process.pid}-${randomBytes(4).toString('hex')}`)
  try {
    makeDirs(parent, dirModeFor(fileMode)) // any parent it creates: the output's mode, whatever the umask
    await fs.mkdir(tmp, { mode: dirModeFor(fileMode) })
    await fs.chmod(tmp, dirModeFor(fileMode)) // whatever the umask
  } catch (err) {
    throw cannotCreate(output, err)
  }
  return tmp
}

/** Write the report into tmp, make everything durable, and rename tmp to output. */
export async function publish(
  tmp: string,
  output: string,
  reportName: string,
  reportText: string,
  fileMode: number,
): Promise<void> {
  try {
    const fh = await createRegular(path.join(tmp, reportName), fileMode)
    try {
      await fh.writeFile(reportText)
      await fh.datasync()
    } finally {
      await fh.close()
    }
    await fsyncDir(tmp)
    await fs.rename(tmp, output)
    await fsyncDir(path.dirname(output))
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOTEMPTY' || (err as NodeJS.ErrnoException).code === 'EEXIST') {
      throw new AuditError(ERROR_CODES.OUTPUT_EXISTS, `${output} was created by someone else while recovering`, {
        cause: err,
        details: { path: output },
      })
    }
    throw ioError('write', output, err)
  }
}
