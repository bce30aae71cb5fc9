// "Get a bucket policy" from "Bucket policy (Node.js SDK)", Alibaba Cloud OSS documentation
// (last updated Feb 28, 2026), unchanged except the placeholders: the client's constructor
// options point at the emulator (endpoint from OSS_ENDPOINT, e.g. 'http://127.0.0.1:PORT').
const OSS = require('ali-oss');

const client = new OSS({
  region: 'oss-cn-hangzhou',
  accessKeyId: process.env.OSS_ACCESS_KEY_ID,
  accessKeySecret: process.env.OSS_ACCESS_KEY_SECRET,
  authorizationV4: true,
  bucket: 'examplebucket',
  endpoint: process.env.OSS_ENDPOINT,
});

async function getPolicy() {
  const result = await client.getBucketPolicy('examplebucket');
  console.log(result.policy);
}

getPolicy();
