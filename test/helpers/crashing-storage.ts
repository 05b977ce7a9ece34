// A Storage module whose writer thread dies: the nth pwrite calls
// process.exit(), which in a worker_thread ends that thread (as an uncaught
// crash in the writer would). Used to check that a dead writer fails the sink loudly.
import { realStorage, type Storage } from '../../shared/storage.js'

export function createStorage(config: { exitOnPwrite: number }): Storage {
  let n = 0
  return {
    ...realStorage,
    pwrite(fd, buf, off, len, pos) {
      if (++n === config.exitOnPwrite) process.exit(70)
      return realStorage.pwrite(fd, buf, off, len, pos)
    },
  }
}
