// What the block page says, in the languages of the organisations that ban
// AI services on their networks: English, Korean, Dutch, French, German and
// Japanese, chosen by the browser's Accept-Language. `{name}` placeholders
// are filled with text already escaped for HTML. The admin's own message,
// organisation and contact are shown as written, in no particular language.

import type { RequestDuration } from '../state/requests.js';

export interface Messages {
  title: string;
  /** {service} */
  headingService: string;
  headingSite: string;
  /** The address reached is the page's, but nothing is blocked for this device (an approval, a DNS cache, the page's IP typed in). */
  notBlocked: string;
  site: string;
  service: string;
  vendor: string;
  rule: string;
  group: string;
  time: string;
  reference: string;
  contact: string;
  message: string;
  ask: string;
  reason: string;
  duration: string;
  durations: Record<RequestDuration, string>;
  send: string;
  /** {created} */
  pending: string;
  /** {by} {until} */
  approved: string;
  /** {by} {time} */
  denied: string;
  limited: string;
  expired: string;
  invalid: string;
  refused: string;
  /** The name is `enforce`d: nothing to ask for. */
  enforced: string;
  footer: string;
}

const en: Messages = {
  title: 'Blocked',
  headingService: '{service} is blocked on this network',
  headingSite: 'This site is blocked on this network',
  notBlocked: 'This address is not blocked for your device at the moment.',
  site: 'Site',
  service: 'Service',
  vendor: 'Vendor',
  rule: 'Rule',
  group: 'Group',
  time: 'Time',
  reference: 'Reference',
  contact: 'Contact',
  message: 'From your administrators',
  ask: 'Ask for access',
  reason: 'Why do you need it?',
  duration: 'For how long?',
  durations: { '1h': '1 hour', '8h': '8 hours', '1d': '1 day', '7d': '1 week', '30d': '30 days' },
  send: 'Send request',
  pending: 'Your request of {created} is waiting for a decision.',
  approved: 'Your request was approved by {by} until {until}. The site opens once your device looks the name up again, within a few minutes.',
  denied: 'Your request was denied by {by} on {time}.',
  limited: 'Too many requests from this device. Try again in a minute.',
  expired: 'This form has expired. Reload the page and send it again.',
  invalid: 'Say why you need access (up to 300 characters) and choose how long.',
  refused: 'The request cannot be taken at the moment. Ask your helpdesk instead.',
  enforced: 'This ban applies to everyone: no exception can be asked for.',
  footer: 'Blocked by the network’s DNS filter. The reference helps your helpdesk find this event.',
};

const ko: Messages = {
  title: '차단됨',
  headingService: '이 네트워크에서는 {service}에 접속할 수 없습니다',
  headingSite: '이 네트워크에서는 이 사이트에 접속할 수 없습니다',
  notBlocked: '이 주소는 현재 이 기기에서 차단되어 있지 않습니다.',
  site: '사이트',
  service: '서비스',
  vendor: '제공사',
  rule: '규칙',
  group: '그룹',
  time: '시각',
  reference: '참조 번호',
  contact: '문의처',
  message: '관리자 안내',
  ask: '접속 허용 요청',
  reason: '필요한 이유',
  duration: '기간',
  durations: { '1h': '1시간', '8h': '8시간', '1d': '1일', '7d': '1주', '30d': '30일' },
  send: '요청 보내기',
  pending: '{created}에 보낸 요청이 검토를 기다리고 있습니다.',
  approved: '{by}님이 {until}까지 요청을 승인했습니다. 기기가 이 주소를 다시 조회하면(몇 분 이내) 사이트가 열립니다.',
  denied: '{by}님이 {time}에 요청을 거절했습니다.',
  limited: '이 기기에서 보낸 요청이 너무 많습니다. 1분 후에 다시 시도하세요.',
  expired: '이 양식이 만료되었습니다. 페이지를 새로 고친 후 다시 보내세요.',
  invalid: '필요한 이유(300자 이내)를 쓰고 기간을 선택하세요.',
  refused: '지금은 요청을 받을 수 없습니다. 헬프데스크에 문의하세요.',
  enforced: '이 차단은 모두에게 적용되므로 예외를 요청할 수 없습니다.',
  footer: '네트워크의 DNS 필터가 차단했습니다. 참조 번호는 헬프데스크가 이 기록을 찾는 데 도움이 됩니다.',
};

const nl: Messages = {
  title: 'Geblokkeerd',
  headingService: '{service} is geblokkeerd op dit netwerk',
  headingSite: 'Deze site is geblokkeerd op dit netwerk',
  notBlocked: 'Dit adres is op dit moment niet geblokkeerd voor uw apparaat.',
  site: 'Site',
  service: 'Dienst',
  vendor: 'Leverancier',
  rule: 'Regel',
  group: 'Groep',
  time: 'Tijd',
  reference: 'Referentie',
  contact: 'Contact',
  message: 'Van uw beheerders',
  ask: 'Toegang aanvragen',
  reason: 'Waarom heeft u het nodig?',
  duration: 'Voor hoe lang?',
  durations: { '1h': '1 uur', '8h': '8 uur', '1d': '1 dag', '7d': '1 week', '30d': '30 dagen' },
  send: 'Aanvraag versturen',
  pending: 'Uw aanvraag van {created} wacht op een beslissing.',
  approved: 'Uw aanvraag is goedgekeurd door {by} tot {until}. De site opent zodra uw apparaat de naam opnieuw opvraagt, binnen enkele minuten.',
  denied: 'Uw aanvraag is afgewezen door {by} op {time}.',
  limited: 'Te veel aanvragen vanaf dit apparaat. Probeer het over een minuut opnieuw.',
  expired: 'Dit formulier is verlopen. Laad de pagina opnieuw en verstuur het nogmaals.',
  invalid: 'Geef aan waarom u toegang nodig heeft (hoogstens 300 tekens) en kies hoe lang.',
  refused: 'De aanvraag kan nu niet worden aangenomen. Neem contact op met uw helpdesk.',
  enforced: 'Deze blokkade geldt voor iedereen: er kan geen uitzondering worden aangevraagd.',
  footer: 'Geblokkeerd door het DNS-filter van dit netwerk. Met de referentie vindt uw helpdesk deze gebeurtenis terug.',
};

const fr: Messages = {
  title: 'Bloqué',
  headingService: '{service} est bloqué sur ce réseau',
  headingSite: 'Ce site est bloqué sur ce réseau',
  notBlocked: 'Cette adresse n’est pas bloquée pour votre appareil en ce moment.',
  site: 'Site',
  service: 'Service',
  vendor: 'Éditeur',
  rule: 'Règle',
  group: 'Groupe',
  time: 'Heure',
  reference: 'Référence',
  contact: 'Contact',
  message: 'De la part de vos administrateurs',
  ask: 'Demander l’accès',
  reason: 'Pourquoi en avez-vous besoin ?',
  duration: 'Pour combien de temps ?',
  durations: { '1h': '1 heure', '8h': '8 heures', '1d': '1 jour', '7d': '1 semaine', '30d': '30 jours' },
  send: 'Envoyer la demande',
  pending: 'Votre demande du {created} attend une décision.',
  approved: 'Votre demande a été approuvée par {by} jusqu’au {until}. Le site s’ouvrira dès que votre appareil redemandera le nom, d’ici quelques minutes.',
  denied: 'Votre demande a été refusée par {by} le {time}.',
  limited: 'Trop de demandes depuis cet appareil. Réessayez dans une minute.',
  expired: 'Ce formulaire a expiré. Rechargez la page et renvoyez-le.',
  invalid: 'Indiquez pourquoi vous avez besoin de l’accès (300 caractères au plus) et pour combien de temps.',
  refused: 'La demande ne peut pas être prise en compte pour le moment. Adressez-vous à votre service d’assistance.',
  enforced: 'Ce blocage s’applique à tous : aucune exception ne peut être demandée.',
  footer: 'Bloqué par le filtre DNS du réseau. La référence aide votre service d’assistance à retrouver cet événement.',
};

const de: Messages = {
  title: 'Gesperrt',
  headingService: '{service} ist in diesem Netzwerk gesperrt',
  headingSite: 'Diese Website ist in diesem Netzwerk gesperrt',
  notBlocked: 'Diese Adresse ist für Ihr Gerät derzeit nicht gesperrt.',
  site: 'Website',
  service: 'Dienst',
  vendor: 'Anbieter',
  rule: 'Regel',
  group: 'Gruppe',
  time: 'Zeit',
  reference: 'Referenz',
  contact: 'Kontakt',
  message: 'Hinweis Ihrer Administratoren',
  ask: 'Zugang beantragen',
  reason: 'Wofür benötigen Sie den Zugang?',
  duration: 'Für wie lange?',
  durations: { '1h': '1 Stunde', '8h': '8 Stunden', '1d': '1 Tag', '7d': '1 Woche', '30d': '30 Tage' },
  send: 'Antrag senden',
  pending: 'Ihr Antrag vom {created} wartet auf eine Entscheidung.',
  approved: 'Ihr Antrag wurde von {by} bis {until} genehmigt. Die Website öffnet sich, sobald Ihr Gerät den Namen erneut abfragt, in wenigen Minuten.',
  denied: 'Ihr Antrag wurde von {by} am {time} abgelehnt.',
  limited: 'Zu viele Anträge von diesem Gerät. Versuchen Sie es in einer Minute erneut.',
  expired: 'Dieses Formular ist abgelaufen. Laden Sie die Seite neu und senden Sie es erneut.',
  invalid: 'Geben Sie an, wofür Sie den Zugang benötigen (höchstens 300 Zeichen), und wählen Sie die Dauer.',
  refused: 'Der Antrag kann derzeit nicht angenommen werden. Wenden Sie sich an Ihren Helpdesk.',
  enforced: 'Diese Sperre gilt für alle: Eine Ausnahme kann nicht beantragt werden.',
  footer: 'Gesperrt durch den DNS-Filter des Netzwerks. Mit der Referenz findet Ihr Helpdesk diesen Vorgang wieder.',
};

const ja: Messages = {
  title: 'ブロックされました',
  headingService: 'このネットワークでは {service} を利用できません',
  headingSite: 'このネットワークではこのサイトを利用できません',
  notBlocked: 'このアドレスは現在、お使いの端末ではブロックされていません。',
  site: 'サイト',
  service: 'サービス',
  vendor: '提供元',
  rule: 'ルール',
  group: 'グループ',
  time: '日時',
  reference: '参照番号',
  contact: '問い合わせ先',
  message: '管理者からのお知らせ',
  ask: 'アクセスを申請する',
  reason: '必要な理由',
  duration: '期間',
  durations: { '1h': '1時間', '8h': '8時間', '1d': '1日', '7d': '1週間', '30d': '30日' },
  send: '申請を送信',
  pending: '{created} の申請は承認待ちです。',
  approved: '{by} が {until} までの利用を承認しました。端末が名前を再度問い合わせると（数分以内）サイトが開きます。',
  denied: '{by} が {time} に申請を却下しました。',
  limited: 'この端末からの申請が多すぎます。1分ほどしてからもう一度お試しください。',
  expired: 'このフォームの有効期限が切れました。ページを再読み込みしてから送信してください。',
  invalid: '必要な理由（300文字以内）を書き、期間を選んでください。',
  refused: '現在、申請を受け付けられません。ヘルプデスクにお問い合わせください。',
  enforced: 'このブロックは全員に適用されるため、例外を申請することはできません。',
  footer: 'ネットワークの DNS フィルターによりブロックされました。参照番号はヘルプデスクがこの記録を探す手がかりになります。',
};

export const LANGUAGES: Readonly<Record<string, Messages>> = { en, ko, nl, fr, de, ja };

/** Accept-Language is read up to this many characters and entries: a browser sends a few dozen. */
const MAX_HEADER = 512;
const MAX_ENTRIES = 16;

/** The best language we have for an Accept-Language header (RFC 9110 §12.5.4, by q, then order); English otherwise. */
export function chooseLanguage(header: string | undefined): string {
  if (!header) return 'en';
  let best = 'en';
  let bestQ = 0;
  for (const part of header.slice(0, MAX_HEADER).split(',').slice(0, MAX_ENTRIES)) {
    const [tag, ...params] = part.trim().split(';');
    const primary = tag.trim().toLowerCase().split('-')[0];
    const q = params.map((p) => /^\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*$/i.exec(p)).find(Boolean);
    const weight = q ? Number(q[1]) : 1;
    if (Object.hasOwn(LANGUAGES, primary) && weight > bestQ) {
      best = primary;
      bestQ = weight;
    }
  }
  return best;
}

/** A template with `{key}` placeholders filled (values already escaped for where they go). */
export function fill(template: string, values: Record<string, string>): string {
  return template.replace(/\{(\w+)\}/g, (m, key: string) => (Object.hasOwn(values, key) ? values[key] : m));
}
