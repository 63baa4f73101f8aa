// An S3 server for the object-storage tests: s3rver from npm (it checks SigV4 signatures, presigned ones
// included, with their expiry, applies CORS, and takes multipart uploads), a bucket whose CORS rules let
// the app's origin PUT, POST and DELETE with any header and read the ETag, as a bucket for browser uploads
// is set up; URLs signed with aws4fetch from npm.
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import S3rver from 's3rver';
import { AwsV4Signer } from 'aws4fetch';

/** s3rver's one account. */
export const S3_KEYS = { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER', service: 's3', region: 'us-east-1' };

/**
 * Starts s3rver with bucket `bucket` open to `appOrigin`. Answers `{ url, sign(key, options), object(key),
 * close() }`: `sign` a presigned URL of object `key` (options `method` (PUT), `query` (S3's, e.g.
 * `uploads` or `partNumber=1&uploadId=x`), `keys`, `expires` in s, `datetime` of the signature as
 * aws4fetch takes it); `object` the bucket's `{ status, size, sha256 }` of `key`. `exposeEtag: false`: a
 * bucket whose CORS rules do not expose the ETag header (set up as many are).
 */
export async function startS3(appOrigin, bucket = 'uploads', { exposeEtag = true } = {}) {
  const cors = '<CORSConfiguration><CORSRule>'
    + `<AllowedOrigin>${appOrigin}</AllowedOrigin>`
    + '<AllowedMethod>PUT</AllowedMethod><AllowedMethod>POST</AllowedMethod><AllowedMethod>DELETE</AllowedMethod>'
    + `<AllowedHeader>*</AllowedHeader>${exposeEtag ? '<ExposeHeader>ETag</ExposeHeader>' : ''}`
    + '</CORSRule></CORSConfiguration>';
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-s3-'));
  const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: bucket, configs: [cors] }] });
  const { port } = await s3.run();
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    async sign(key, { method = 'PUT', query = '', keys = S3_KEYS, expires, datetime } = {}) {
      const params = [query, expires === undefined ? '' : `X-Amz-Expires=${expires}`].filter(Boolean).join('&');
      const target = `${url}/${bucket}/${key}${params ? `?${params}` : ''}`;
      const signed = await new AwsV4Signer({ ...keys, url: target, method, signQuery: true, datetime }).sign();
      return signed.url.toString();
    },
    async object(key) {
      const signed = await new AwsV4Signer({ ...S3_KEYS, url: `${url}/${bucket}/${key}`, method: 'GET' }).sign();
      const res = await fetch(signed.url, { headers: signed.headers });
      const bytes = Buffer.from(await res.arrayBuffer());
      return { status: res.status, size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
    },
    async close() {
      await s3.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
