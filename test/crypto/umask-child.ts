// Child process for the keyring mode test: under umask 000 it creates a keyring
// and changes it every way there is (each change is a new file renamed over the
// name), printing the file's mode after each step as one JSON line.
import fs from 'node:fs'
import { Keyring } from '../../lib/crypto/index.js'

process.umask(0)
const file = process.argv[2]!
const modes: Record<string, string> = {}
const mode = (): string => (fs.statSync(file).mode & 0o777).toString(8).padStart(4, '0')

const ring = await Keyring.create(file)
modes.create = mode()
await ring.rotate()
modes.rotate = mode()
const p = ring.pseudonym('subject-1')
await ring.subjectKey(p, { create: true })
modes.subject = mode()
await ring.rotateLookupKey()
modes.lookup = mode()
await ring.eraseSubject(p)
modes.erase = mode()
ring.close()
// A file this process creates the ordinary way, to show the umask really was 000.
fs.writeFileSync(`${file}.probe`, 'x')
modes.probe = (fs.statSync(`${file}.probe`).mode & 0o777).toString(8).padStart(4, '0')
console.log(JSON.stringify(modes))
