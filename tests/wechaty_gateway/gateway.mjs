#!/usr/bin/env node
// A mocked WeChat served over Wechaty's puppet-service (gRPC) protocol, for redsteward's tests.
//
//   node gateway.mjs --port 8788 --control-port 8789
//
// Environment:
//   WECHATY_PUPPET_SERVICE_TOKEN                    the token both sides share (required)
//   WECHATY_PUPPET_SERVICE_NO_TLS_INSECURE_SERVER   "true": plain gRPC; otherwise TLS with the
//                                                   package's default certificate (CN "insecure")
//   GATEWAY_PORT, GATEWAY_CONTROL_PORT              instead of --port / --control-port
//   GATEWAY_WORLD                                   a JSON file replacing DEFAULT_WORLD below
//
// The control API (HTTP + JSON on 127.0.0.1:<control port>) lets a test act as the residents:
//   GATEWAY_LOGIN=scan                              wait for POST /login instead of logging in
//
//   GET  /health                                  {"loggedIn", "selfId", "serving", "starts"}
//   POST /login                                   the QR code was scanned: log the bot in
//   GET  /world                                   the people and rooms of the mocked WeChat
//   POST /say    {"from", "text", "room"?, "to"?, "mentions"?: [ids]}   -> {"id"}
//   POST /image  {"from", "room"?, "to"?}                              -> {"id"}
//   POST /replay {"id"}           emit an earlier message again (same message id)
//   POST /topic  {"room", "topic", "by"}
//   POST /join   {"room", "invitees": [ids], "by"}
//   GET  /sent                    what the bot sent: [{id, conversationId, roomId, toId,
//                                 text, mentionIds, kind, fileName}]
//   POST /sent/clear
//   POST /server/stop, /server/start   stop or start serving gRPC, keeping the mock's state
// It prints one line "READY <grpc port> <control port>" on stdout once it serves.

import fs from 'node:fs'
import http from 'node:http'
import crypto from 'node:crypto'

import * as PUPPET from 'wechaty-puppet'
import { PuppetMock, mock } from 'wechaty-puppet-mock'
import { PuppetServer } from 'wechaty-puppet-service'
import { FileBox } from 'file-box'

const DEFAULT_WORLD = {
  self: { id: 'wxid_redsteward', name: '红管家' },
  contacts: [
    { id: 'wxid_zhangayi', name: '张阿姨' },
    { id: 'wxid_lidaye', name: '李大爷' },
    { id: 'wxid_wanghongguan', name: '王红管' },
    { id: 'wxid_liwangge', name: '李网格' },
    { id: 'wxid_admin', name: '管理员' },
  ],
  rooms: [
    {
      id: 'room-yg-3',
      topic: '阳光花园3号楼业主群',
      members: ['wxid_redsteward', 'wxid_zhangayi', 'wxid_lidaye', 'wxid_wanghongguan', 'wxid_liwangge'],
    },
    {
      id: 'room-yg-1',
      topic: '阳光花园1号楼业主群',
      members: ['wxid_redsteward', 'wxid_lidaye', 'wxid_wanghongguan'],
    },
    {
      // a group the configuration does not know yet: bound from the chat by the admin
      id: 'room-yg-2-new',
      topic: '阳光花园2号楼邻里群',
      members: ['wxid_redsteward', 'wxid_zhangayi', 'wxid_wanghongguan', 'wxid_admin'],
    },
  ],
}

// a 1x1 PNG, the "photo" a resident posts
const TINY_PNG_BASE64 =
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=='

function argValue (name) {
  const i = process.argv.indexOf(name)
  return i >= 0 ? process.argv[i + 1] : undefined
}

const grpcPort = Number(argValue('--port') || process.env.GATEWAY_PORT || 8788)
const controlPort = Number(argValue('--control-port') || process.env.GATEWAY_CONTROL_PORT || 8789)
const token = process.env.WECHATY_PUPPET_SERVICE_TOKEN
if (!token) {
  console.error('gateway: WECHATY_PUPPET_SERVICE_TOKEN is required')
  process.exit(2)
}
const world = process.env.GATEWAY_WORLD
  ? JSON.parse(fs.readFileSync(process.env.GATEWAY_WORLD, 'utf8'))
  : DEFAULT_WORLD

// Message ids must never repeat across gateway restarts (the bot de-duplicates by id).
const bootId = crypto.randomBytes(4).toString('hex')
let counter = 0
const newMessageId = (prefix) => `${prefix}-${bootId}-${++counter}`

const sent = []

/** PuppetMock that records what the bot sends, with ids and mention ids. */
class RecordingPuppet extends PuppetMock {
  deliver (conversationId, payloadPart) {
    if (!this.isLoggedIn) {
      throw new Error('not logged in')
    }
    const isRoom = this.mocker.cacheRoomPayload.has(conversationId)
    if (!isRoom && !this.mocker.cacheContactPayload.has(conversationId)) {
      throw new Error(`no room or contact ${conversationId}`)
    }
    const payload = {
      id: newMessageId('bot'),
      talkerId: this.currentUserId,
      timestamp: Date.now(),
      ...payloadPart,
      ...(isRoom ? { roomId: conversationId } : { listenerId: conversationId }),
    }
    // the mocked WeChat shows the bot its own message, as real WeChat does
    this.mocker.MessageMock.create(payload)
    this.emit('message', { messageId: payload.id })
    return { id: payload.id, isRoom }
  }

  async messageSendText (conversationId, text, mentionIdList) {
    const mentionIds = mentionIdList || []
    const { id, isRoom } = this.deliver(conversationId, {
      type: PUPPET.types.Message.Text,
      text,
      mentionIdList: mentionIds,
    })
    sent.push({
      id,
      conversationId,
      roomId: isRoom ? conversationId : null,
      toId: isRoom ? null : conversationId,
      text,
      mentionIds,
      kind: 'text',
      fileName: null,
    })
    return id
  }

  async messageSendFile (conversationId, fileBox) {
    const { id, isRoom } = this.deliver(conversationId, {
      type: PUPPET.types.Message.Image,
      filename: fileBox.name,
    })
    this.mocker.cacheFileBoxPayload.set(id, fileBox.toJSON())
    sent.push({
      id,
      conversationId,
      roomId: isRoom ? conversationId : null,
      toId: isRoom ? null : conversationId,
      text: '',
      mentionIds: [],
      kind: 'file',
      fileName: fileBox.name,
    })
    return id
  }

  async messageImage (messageId, _imageType) {
    return this.messageFile(messageId)
  }
}

const mocker = new mock.Mocker()
const contact = (id) => mocker.ContactMock.load(id)
const room = (id) => mocker.RoomMock.load(id)

for (const person of [world.self, ...world.contacts]) {
  mocker.createContact({ id: person.id, name: person.name, avatar: '', alias: undefined })
}
for (const r of world.rooms) {
  mocker.createRoom({ id: r.id, topic: r.topic, memberIdList: [...r.members], avatar: '', adminIdList: [] })
}
// Each time the puppet is started (the client calls stop() then start()) the bot logs in
// again, or, with GATEWAY_LOGIN=scan, shows a QR code and waits for POST /login.
const loginByScan = process.env.GATEWAY_LOGIN === 'scan'
let starts = 0
mocker.use((m) => {
  starts++
  if (!m.puppet.isLoggedIn) {
    if (loginByScan) {
      m.scan('mock-qrcode-' + starts, PUPPET.types.ScanStatus.Waiting)
    } else {
      m.login(contact(world.self.id))
    }
  }
  return () => {}
})

const puppet = new RecordingPuppet({ mocker })
let server

async function startServing () {
  if (server) {
    return
  }
  server = new PuppetServer({ endpoint: `127.0.0.1:${grpcPort}`, puppet, token })
  await server.start()
}

async function stopServing () {
  if (!server) {
    return
  }
  const s = server
  server = undefined
  await s.stop()
}

function residentSays (body, something) {
  const talker = contact(body.from)
  if (!body.room && !body.to) {
    throw new Error('say needs "room" or "to"')
  }
  const base = { id: newMessageId('mock'), talkerId: talker.id, timestamp: Date.now() }
  let payload
  if (typeof something === 'string') {
    payload = { ...base, type: PUPPET.types.Message.Text, text: something }
  } else {
    mocker.cacheFileBoxPayload.set(base.id, something.toJSON())
    payload = { ...base, type: PUPPET.types.Message.Image, filename: something.name }
  }
  if (body.room) {
    room(body.room) // throws if unknown
    payload = { ...payload, roomId: body.room, mentionIdList: body.mentions || [] }
  } else {
    payload = { ...payload, listenerId: contact(body.to).id }
  }
  mocker.MessageMock.create(payload)
  puppet.emit('message', { messageId: payload.id })
  return { id: payload.id }
}

const routes = {
  'GET /health': async () => ({
    loggedIn: puppet.isLoggedIn,
    starts,
    selfId: world.self.id,
    serving: Boolean(server),
  }),
  'GET /world': async () => world,
  'POST /login': async () => {
    mocker.login(contact(world.self.id))
    return {}
  },
  'POST /say': async (body) => residentSays(body, String(body.text ?? '')),
  'POST /image': async (body) =>
    residentSays(body, FileBox.fromBase64(TINY_PNG_BASE64, 'photo.png')),
  'POST /replay': async (body) => {
    mocker.messagePayload(body.id) // throws if unknown
    puppet.emit('message', { messageId: body.id })
    return { id: body.id }
  },
  'POST /topic': async (body) => {
    room(body.room).topic(body.topic).by(contact(body.by))
    return {}
  },
  'POST /join': async (body) => {
    room(body.room).add(...body.invitees.map(contact)).by(contact(body.by))
    return {}
  },
  'GET /sent': async () => sent,
  'POST /sent/clear': async () => {
    sent.length = 0
    return {}
  },
  'POST /server/stop': async () => {
    await stopServing()
    return {}
  },
  'POST /server/start': async () => {
    await startServing()
    return {}
  },
}

function readBody (req) {
  return new Promise((resolve, reject) => {
    let data = ''
    req.setEncoding('utf8')
    req.on('data', (chunk) => { data += chunk })
    req.on('end', () => {
      try {
        resolve(data ? JSON.parse(data) : {})
      } catch (e) {
        reject(e)
      }
    })
    req.on('error', reject)
  })
}

const control = http.createServer(async (req, res) => {
  const route = routes[`${req.method} ${req.url}`]
  let status = 200
  let result
  if (!route) {
    status = 404
    result = { error: `no route ${req.method} ${req.url}` }
  } else {
    try {
      result = await route(await readBody(req))
    } catch (e) {
      status = 400
      result = { error: String(e && e.message ? e.message : e) }
    }
  }
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' })
  res.end(JSON.stringify(result))
})

async function main () {
  await puppet.start()
  await startServing()
  await new Promise((resolve) => control.listen(controlPort, '127.0.0.1', resolve))
  console.log(`READY ${grpcPort} ${control.address().port}`)
}

async function shutdown () {
  control.close()
  await stopServing().catch(() => {})
  await puppet.stop().catch(() => {})
  process.exit(0)
}
process.on('SIGTERM', shutdown)
process.on('SIGINT', shutdown)

main().catch((e) => {
  console.error('gateway failed:', e)
  process.exit(1)
})
