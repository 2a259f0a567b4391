// One file sent to the server (docs/api.md, "Uploads"): POST /upload with the resume token,
// the file as the body; XMLHttpRequest, as fetch() does not report upload progress.

/**
 * Upload `file` as the user whose resume token is `token`.
 * onProgress(fraction) is called as the body goes out (0 to 1).
 * → {done: Promise of the attachment ({id, name, type, size, width?, height?, url, thumb?}),
 *    abort()}. The promise rejects with {code, message}: a server code (file_too_large,
 *    unsupported_type, bad_image, image_too_large, quota_exceeded, rate_limited, bad_token,
 *    banned, unavailable), or 'aborted' / 'network'.
 */
export function upload(file, token, onProgress) {
  const xhr = new XMLHttpRequest();
  const done = new Promise((resolve, reject) => {
    xhr.open('POST', '/upload?name=' + encodeURIComponent(file.name || 'file'));
    xhr.setRequestHeader('Authorization', 'Bearer ' + token);
    xhr.responseType = 'json';
    xhr.upload.addEventListener('progress', (e) => {
      if (e.lengthComputable) onProgress(e.loaded / e.total);
    });
    xhr.addEventListener('load', () => {
      const body = xhr.response;
      if (xhr.status === 201 && body && body.id) resolve(body);
      else if (body && body.error) reject(body.error);
      else reject({ code: xhr.status === 413 ? 'file_too_large' : 'unavailable', message: String(xhr.status) });
    });
    xhr.addEventListener('error', () => reject({ code: 'network', message: 'the upload was cut off' }));
    xhr.addEventListener('abort', () => reject({ code: 'aborted', message: 'cancelled' }));
    xhr.send(file);
  });
  return { done, abort: () => xhr.abort() };
}
