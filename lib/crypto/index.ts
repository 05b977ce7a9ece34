/**
 * The encryption room's face (docs/encryption.md): the keyring and its key
 * providers, bulk frame encryption for the writer, personal-data fields and
 * their markers. Nothing here touches a log; the sink, the writer and the
 * readers call it.
 */

export { type CipherKey, IV_BYTES, KEY_BYTES, TAG_BYTES } from './aead.js'
export {
  type KeyProvider,
  type KeyPurpose,
  LOCAL_PROVIDER_ID,
  LocalKeyProvider,
  type WrapContext,
  wrapAad,
  wrapEncryptionContext,
} from './provider.js'
export {
  type DataKey,
  type ErasureResult,
  type KeyInfo,
  Keyring,
  type KeyringOptions,
  type SubjectKey,
  type SubjectKeyLookup,
} from './keyring.js'
export { type ErasedEntry, KEYRING_TYPE, KEYRING_VERSION } from './keyring-schema.js'
export { KEYRING_FILE_MODE } from './keyring-file.js'
export {
  decryptSliceUnauthenticated,
  EPOCH_SALT_BYTES,
  EpochSealer,
  FRAME_DOMAIN,
  frameAad,
  frameIv,
  type FrameOpenInput,
  type FrameSealInput,
  openFrame,
  sealFrame,
  type SealedFrame,
} from './frame.js'
export {
  decryptFields,
  ENCRYPTED_MARKER,
  type EncryptedFields,
  encryptFields,
  ERASED_MARKER,
  FIELDS_DOMAIN,
  type FieldsContext,
  isEncryptedFields,
  maskFields,
  splitFields,
} from './fields.js'
