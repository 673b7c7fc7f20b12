import { XMLParser } from 'fast-xml-parser';
import { MAX_XML_DEPTH, parseXmlDocument } from './xml';

// The oracle: fast-xml-parser (which the AWS SDK itself parses STS answers with) in the
// options the lean STS client used before this parser replaced it.
const oracle = new XMLParser({
  ignoreAttributes: true,
  parseTagValue: false,
  trimValues: true,
  processEntities: true,
  htmlEntities: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
});

const SESSION_TOKEN = `FwoGZXIvYXdzE${'A'.repeat(600)}+/=`;
const SUCCESS = `<?xml version="1.0" encoding="UTF-8"?>
<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <SubjectFromWebIdentityToken>repo:acme/app:ref:refs/heads/main</SubjectFromWebIdentityToken>
    <Audience>sts.amazonaws.com</Audience>
    <AssumedRoleUser>
      <Arn>arn:aws:sts::111122223333:assumed-role/deploy/voidkey-abc</Arn>
      <AssumedRoleId>AROACLKWSDQRAOEXAMPLE:voidkey-abc</AssumedRoleId>
    </AssumedRoleUser>
    <Credentials>
      <SessionToken>${SESSION_TOKEN}</SessionToken>
      <SecretAccessKey>wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY</SecretAccessKey>
      <Expiration>2026-12-06T08:00:00Z</Expiration>
      <AccessKeyId>ASIAIOSFODNN7EXAMPLE</AccessKeyId>
    </Credentials>
    <Provider>www.amazon.com</Provider>
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>ad4156e9-bce1-11e2-82e6-6b6efEXAMPLE</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>`;
const ERROR = `<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <Error>
    <Type>Sender</Type>
    <Code>InvalidIdentityToken</Code>
    <Message>Couldn&apos;t retrieve verification key from your identity provider, &lt;see&gt; &amp; more</Message>
  </Error>
  <RequestId>4e2a7e5c-0000-0000-0000-000000000000</RequestId>
</ErrorResponse>`;

const AGREES: ReadonlyArray<readonly [string, string]> = [
  ['an AssumeRoleWithWebIdentity answer', SUCCESS],
  ['the same answer on one line', SUCCESS.replace(/>\s+</g, '><')],
  ['an STS error document with entities', ERROR],
  ["MinIO's bare <Error> document", '<Error><Code>AccessDenied</Code><Message>Access Denied.</Message><Resource>/</Resource><RequestId>17A</RequestId></Error>'],
  ['empty and self-closing elements', '<R><A></A><B/><C>  </C></R>'],
  ['repeated names become an array', '<R><Member><Id>1</Id></Member><Member><Id>2</Id></Member><Member><Id>3</Id></Member><Other>x</Other></R>'],
  ['repeated text elements', '<R><V>a</V><V>b</V></R>'],
  ['text beside child elements is #text', '<R>  lead <A>1</A></R>'],
  ['CDATA is text', '<R><A><![CDATA[a < b & c]]></A></R>'],
  ['comments and processing instructions are dropped', '<R><!-- note --><?pi x?><A>1</A></R>'],
  ['attributes are dropped', '<R a="1"><A b="2">x</A></R>'],
  ['namespace prefixes are kept as written', '<s:R xmlns:s="urn:x"><s:A>1</s:A></s:R>'],
  ['digits stay text', '<R><A>00123</A><B>1e3</B><C>true</C></R>'],
];

describe('parseXmlDocument', () => {
  it.each(AGREES)('gives what fast-xml-parser gives for %s', (_name, xml) => {
    expect(JSON.parse(JSON.stringify(parseXmlDocument(xml)))).toEqual(oracle.parse(xml));
  });

  // Where the two differ, this one follows the XML specification (neither occurs in STS answers).
  it('decodes character references (fast-xml-parser leaves them as written without htmlEntities)', () => {
    expect(parseXmlDocument('<R>&#x41;&#66;&#x1F511;</R>')).toEqual({ R: 'AB\u{1F511}' });
    expect(oracle.parse('<R>&#x41;&#66;</R>')).toEqual({ R: '&#x41;&#66;' });
  });

  it('keeps text split by a child element as one text (fast-xml-parser trims and joins the pieces)', () => {
    expect(JSON.parse(JSON.stringify(parseXmlDocument('<R> lead <A>1</A> tail </R>')))).toEqual({ R: { A: '1', '#text': 'lead  tail' } });
  });

  it('reads the credentials of an STS answer', () => {
    const document = parseXmlDocument(SUCCESS) as { AssumeRoleWithWebIdentityResponse: { AssumeRoleWithWebIdentityResult: { Credentials: unknown } } };
    const credentials = document.AssumeRoleWithWebIdentityResponse.AssumeRoleWithWebIdentityResult.Credentials;
    expect(credentials).toEqual({ SessionToken: SESSION_TOKEN, SecretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY', Expiration: '2026-12-06T08:00:00Z', AccessKeyId: 'ASIAIOSFODNN7EXAMPLE' });
  });

  it(`accepts ${MAX_XML_DEPTH} levels of nesting and refuses one more`, () => {
    const nested = (depth: number) => `${'<a>'.repeat(depth)}x${'</a>'.repeat(depth)}`;
    expect(() => parseXmlDocument(nested(MAX_XML_DEPTH))).not.toThrow();
    expect(() => parseXmlDocument(nested(MAX_XML_DEPTH + 1))).toThrow(/deeper than 16/);
  });

  it('keeps an element named __proto__ as a name (no prototype to pollute)', () => {
    const document = parseXmlDocument('<R><__proto__><polluted>yes</polluted></__proto__><constructor>c</constructor></R>') as { R: Record<string, unknown> };
    expect(document.R.__proto__).toEqual({ polluted: 'yes' });
    expect(document.R.constructor).toBe('c');
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const repeated = parseXmlDocument('<R><__proto__>a</__proto__><__proto__>b</__proto__><x>1</x></R>') as { R: Record<string, unknown> };
    expect(Object.getOwnPropertyDescriptor(repeated.R, '__proto__')?.value).toEqual(['a', 'b']);
    expect(Object.getPrototypeOf(repeated.R)).toBe(Object.prototype);
    expect(({} as Record<string, unknown>)[0]).toBeUndefined();
  });

  // Each refused document beside a well-formed twin that parses (positive control).
  it.each([
    ['an unclosed element', '<R><A>1</A></R>', '<R><A>1</A>'],
    ['a mismatched closing tag', '<R><A>1</A></R>', '<R><A>1</B></R>'],
    ['a second root element', '<R/>', '<R/><S/>'],
    ['text outside the root', '<R/>', '<R/>trailing'],
    ['an undefined entity', '<R>&amp;</R>', '<R>&nbsp;</R>'],
    ['an empty document', '<R/>', ''],
    ['not XML at all', '<R>{}</R>', '{"Credentials":{}}'],
    ['a bare ampersand', '<R>a &amp; b</R>', '<R>a & b</R>'],
  ])('refuses %s', (_name, good, bad) => {
    expect(() => parseXmlDocument(good)).not.toThrow();
    expect(() => parseXmlDocument(bad)).toThrow();
  });
});
