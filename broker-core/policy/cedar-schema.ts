/**
 * The Cedar schema every policy set is validated against in strict mode: the same text
 * as config/voidkey.cedarschema (a test holds the two equal), kept here because
 * broker-core reads no files.
 */
export const VOIDKEY_CEDAR_SCHEMA = "// The entity model Voidkey's Cedar policies are validated against (strict mode), at\n// load and by `voidkey policy validate`. docs/policy.md describes each field.\nnamespace Voidkey {\n  // The caller: the verified token. Its string claims are the entity's tags:\n  // principal.hasTag(\"ref\") && principal.getTag(\"ref\") == \"refs/heads/main\"\n  entity Caller = {\n    idp: String,\n    subject: String,\n    identities: Set<String>,\n  } tags String;\n\n  // A key of the config. Its `tags:` are the entity's tags.\n  entity Key = {\n    provider: String,\n    providerType: String,\n    identity: String,\n  } tags String;\n\n  action mint appliesTo {\n    principal: [Caller],\n    resource: [Key],\n    context: {\n      durationSeconds: Long,\n      keys: Set<String>,\n      sourceIp?: ipaddr,\n      now: Long,\n    },\n  };\n}\n";
