<?php
// docs/examples/chatd.php: chatd from a PHP web app (Yii2, ThinkPHP, plain PHP), with curl only.
// Settings come from the environment: CHATD_URL (https://chat.example.com), CHATD_API_KEY (a key
// with the scopes publish, read, manage: `chatd apikey create shop --scope publish --scope read
// --scope manage`) and CHATD_APP_SECRET (chatd's app_tokens.secret). Every function throws a
// ChatdError when chatd refuses; run from the command line it is also a small tool (see the end).

class ChatdError extends RuntimeException
{
    public $status;   // the HTTP status, 0 when chatd could not be reached
    public $errorCode; // chatd's stable code: no_such_user, unauthorized, rate_limited, ...

    public function __construct(int $status, string $errorCode, string $message)
    {
        parent::__construct("chatd: $status $errorCode: $message");
        $this->status = $status;
        $this->errorCode = $errorCode;
    }
}

function chatd_env(string $name): string
{
    $value = getenv($name);
    if ($value === false || $value === '') {
        throw new ChatdError(0, 'not_configured', "set the environment variable $name");
    }
    return $value;
}

function chatd_base64url(string $bytes): string
{
    return rtrim(strtr(base64_encode($bytes), '+/', '-_'), '=');
}

// (a) Log a user in: an app token (a JWT, HS256) for one of your users. $sub is your user id;
// chatd finds the same chatd user by it on every device. Short-lived: chatd hands the page its own
// resume token, so the JWT is used once, at sign-in. $extra: 'avatar', 'rooms', 'roles' claims.
function chatd_app_token(string $sub, string $name, int $ttlSeconds = 300, array $extra = []): string
{
    $header = chatd_base64url(json_encode(['alg' => 'HS256', 'typ' => 'JWT']));
    $claims = array_merge(['sub' => $sub, 'name' => $name, 'iat' => time(), 'exp' => time() + $ttlSeconds], $extra);
    $payload = chatd_base64url(json_encode($claims, JSON_UNESCAPED_UNICODE | JSON_UNESCAPED_SLASHES));
    $signature = hash_hmac('sha256', "$header.$payload", chatd_env('CHATD_APP_SECRET'), true);
    return "$header.$payload." . chatd_base64url($signature);
}

// The link to the chatd page that signs the user in: the token goes in the fragment (after #),
// which browsers never send to a server, so it stays out of access logs; the page removes it.
function chatd_login_url(string $sub, string $name): string
{
    return rtrim(chatd_env('CHATD_URL'), '/') . '/#app_token=' . rawurlencode(chatd_app_token($sub, $name));
}

// One call of the HTTP API: the decoded answer, or a ChatdError. With an $idempotencyKey (e.g.
// "order-1234-shipped") a retried POST /messages is stored once (answered with the first answer).
function chatd_api(string $method, string $path, ?array $body = null, ?string $idempotencyKey = null): array
{
    $curl = curl_init(rtrim(chatd_env('CHATD_URL'), '/') . '/api/v1' . $path);
    $headers = ['Authorization: Bearer ' . chatd_env('CHATD_API_KEY')];
    if ($idempotencyKey !== null) {
        $headers[] = "Idempotency-Key: $idempotencyKey";
    }
    curl_setopt_array($curl, [
        CURLOPT_CUSTOMREQUEST => $method,
        CURLOPT_RETURNTRANSFER => true,
        CURLOPT_CONNECTTIMEOUT => 5,
        CURLOPT_TIMEOUT => 10,
    ]);
    if ($body !== null) {
        curl_setopt($curl, CURLOPT_POSTFIELDS, json_encode($body, JSON_UNESCAPED_UNICODE));
        $headers[] = 'Content-Type: application/json';
    }
    curl_setopt($curl, CURLOPT_HTTPHEADER, $headers);
    $text = curl_exec($curl);
    $status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
    $failure = curl_error($curl);
    curl_close($curl);
    if ($text === false) {
        throw new ChatdError(0, 'unreachable', $failure);
    }
    $answer = json_decode($text, true);
    if ($status >= 400 || !is_array($answer)) {
        $error = $answer['error'] ?? ['code' => 'bad_answer', 'message' => substr($text, 0, 200)];
        throw new ChatdError($status, $error['code'], $error['message']);
    }
    return $answer;
}

// Your user id ($sub) → chatd's user id, which the other endpoints take; null when the user has
// never signed in to chatd (chatd knows a sub from its first app token on).
function chatd_user_id(string $sub): ?int
{
    static $known = [];
    if (!isset($known[$sub])) {
        try {
            $known[$sub] = chatd_api('GET', '/subs/' . rawurlencode($sub))['id'];
        } catch (ChatdError $e) {
            if ($e->errorCode === 'no_such_user') {
                return null;
            }
            throw $e;
        }
    }
    return $known[$sub];
}

function chatd_existing_user_id(string $sub): int
{
    $id = chatd_user_id($sub);
    if ($id === null) {
        throw new ChatdError(404, 'no_such_user', "user $sub has never signed in to the chat");
    }
    return $id;
}

// (b) A private chat message from user $fromSub to user $toSub: every session of both gets it.
function chatd_send_to_user(string $toSub, string $fromSub, string $text, ?string $idempotencyKey = null): array
{
    $body = ['to' => chatd_existing_user_id($toSub), 'as' => chatd_existing_user_id($fromSub), 'text' => $text];
    return chatd_api('POST', '/messages', $body, $idempotencyKey);
}

// (c) A chat message from user $fromSub into a room.
function chatd_send_to_room(string $room, string $fromSub, string $text, ?string $idempotencyKey = null): array
{
    $body = ['room' => $room, 'as' => chatd_existing_user_id($fromSub), 'text' => $text];
    return chatd_api('POST', '/messages', $body, $idempotencyKey);
}

// (d) A notification (an event name and any JSON data, not a chat message) to all sessions of
// user $sub, kept for $ttlSeconds and delivered when they next connect if they are offline now.
function chatd_notify_user(string $sub, string $event, $data, int $ttlSeconds = 86400): array
{
    $body = ['to' => chatd_existing_user_id($sub), 'name' => $event, 'data' => $data, 'store' => true,
             'ttl_seconds' => $ttlSeconds];
    return chatd_api('POST', '/events', $body);
}

// (e) Is user $sub online, and on how many sessions: ['online' => bool, 'sessions' => int].
function chatd_is_online(string $sub): array
{
    $id = chatd_user_id($sub);
    if ($id === null) {
        return ['online' => false, 'sessions' => 0];
    }
    $answer = chatd_api('GET', "/users/$id/online");
    return ['online' => $answer['online'], 'sessions' => $answer['sessions']];
}

// (f) Close every session of user $sub; the page shows $reason and does not reconnect by itself.
function chatd_kick(string $sub, string $reason): array
{
    return chatd_api('POST', '/users/' . chatd_existing_user_id($sub) . '/disconnect', ['reason' => $reason]);
}

// From the command line: php chatd.php COMMAND ARGUMENTS...; prints the answer as JSON, and
// exits with status 1 and chatd's error on stderr when chatd refuses.
if (PHP_SAPI === 'cli' && isset($argv[0]) && realpath($argv[0]) === __FILE__) {
    $commands = [
        'login-url' => 'chatd_login_url',        // SUB NAME
        'send-to-user' => 'chatd_send_to_user',  // TO_SUB FROM_SUB TEXT [IDEMPOTENCY_KEY]
        'send-to-room' => 'chatd_send_to_room',  // ROOM FROM_SUB TEXT [IDEMPOTENCY_KEY]
        'notify-user' => 'chatd_notify_user',    // SUB EVENT DATA_JSON [TTL_SECONDS]
        'is-online' => 'chatd_is_online',        // SUB
        'kick' => 'chatd_kick',                  // SUB REASON
    ];
    $args = array_slice($argv, 2);
    if (!isset($argv[1], $commands[$argv[1]])) {
        fwrite(STDERR, 'usage: php chatd.php ' . implode('|', array_keys($commands)) . " ARGUMENTS...\n");
        exit(2);
    }
    if ($argv[1] === 'notify-user') {
        $args[2] = json_decode($args[2] ?? 'null', true);
        $args = array_merge(array_slice($args, 0, 3), array_map('intval', array_slice($args, 3)));
    }
    try {
        echo json_encode(call_user_func_array($commands[$argv[1]], $args), JSON_UNESCAPED_SLASHES), "\n";
    } catch (ChatdError $e) {
        fwrite(STDERR, $e->getMessage() . "\n");
        exit(1);
    }
}
