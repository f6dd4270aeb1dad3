"""Russian interface text (keys: the English source strings of gui/*.py).

tests/test_gui_units.py checks that every string passed to tr()/trn() in
gui/ has an entry here, with the same {placeholders}.
"""
from __future__ import annotations

RU: dict[str, str] = {
    # answers
    "Using {n} of {m} documents": "Использовано документов: {n} из {m}",
    "Question: {q}": "Вопрос: {q}",
    "{s:.1f} s": "{s:.1f} с",
    "You": "Вы",
    "Not found in your documents.": "В ваших документах ответа нет.",
    "Sources:": "Источники:",
    "Not supported by the documents: check before relying on it.":
        "Не подтверждено документами: проверьте, прежде чем полагаться на это.",
    "Copy": "Копировать",
    "Could not answer: {error}": "Не удалось ответить: {error}",
    "stopped": "остановлено",
    "Ask a question about your documents. Every sentence of the answer links to the passage that supports it.":
        "Задайте вопрос по своим документам. Каждое предложение ответа ссылается на фрагмент, который его "
        "подтверждает.",
    # chat
    "Conversation:": "Беседа:",
    "New chat": "Новая беседа",
    "Start a new conversation (Ctrl+N)": "Начать новую беседу (Ctrl+N)",
    "Delete": "Удалить",
    "Delete this conversation": "Удалить эту беседу",
    "Ask": "Спросить",
    "Ask the question (Ctrl+Enter)": "Задать вопрос (Ctrl+Enter)",
    "Stop": "Стоп",
    "Stop the answer (Esc)": "Остановить ответ (Esc)",
    "Copy answer": "Копировать ответ",
    "Copy the last answer with its citations": "Скопировать последний ответ со ссылками на источники",
    "Ask a question about your documents… (Ctrl+Enter to ask)": "Вопрос по вашим документам… (Ctrl+Enter — спросить)",
    "Loading the model…": "Загрузка модели…",
    "Thinking…": "Думаю…",
    "Stopping…": "Останавливаю…",
    "Writing the answer…": "Пишу ответ…",
    "Answer copied with its citations.": "Ответ скопирован вместе со ссылками.",
    "No CJK font: Japanese shows as boxes": "Нет шрифта CJK: японский текст показан квадратами",
    "No Japanese/Chinese font is installed, so such text shows as boxes. "
    "Install one (Debian/Ubuntu: sudo apt install fonts-noto-cjk) or put a .ttf/.otf file in {folder}.":
        "Не установлен шрифт для японского/китайского, такой текст показан квадратами. "
        "Установите его (Debian/Ubuntu: sudo apt install fonts-noto-cjk) или положите файл .ttf/.otf в {folder}.",
    "No knowledge base is open.": "База знаний не открыта.",
    "Busy: wait for the current answer or press Stop.": "Занято: дождитесь ответа или нажмите «Стоп».",
    "New conversation": "Новая беседа",
    "Stopped.": "Остановлено.",
    "This sentence is not supported by the selected documents.":
        "Это предложение не подтверждается выбранными документами.",
    "{n} of {m} sentences cited": "Со ссылкой на источник: {n} из {m} предложений",
    # file list
    "indexed": "в индексе",
    "failed": "ошибка",
    "pending": "ожидает",
    "File": "Файл",
    "Status": "Состояние",
    "Details": "Подробности",
    # knowledge-base panel
    "{done} of {total} files · {passages} passages · {rate:.0f} passages/s · ETA {eta}":
        "Файлов: {done} из {total} · фрагментов: {passages} · {rate:.0f} фрагм./с · осталось {eta}",
    "Knowledge base": "База знаний",
    "New…": "Создать…",
    "Create a knowledge base": "Создать базу знаний",
    "Rename…": "Переименовать…",
    "Delete…": "Удалить…",
    "Folders and files (watched for changes)": "Папки и файлы (изменения отслеживаются)",
    "Add folder…": "Добавить папку…",
    "Add files…": "Добавить файлы…",
    "Remove folder": "Убрать папку",
    "Forget the selected folder and everything indexed from it": "Забыть выбранную папку и всё, что из неё проиндексировано",
    "Re-index": "Переиндексировать",
    "Check every folder for new, changed and deleted files": "Проверить все папки на новые, изменённые и удалённые файлы",
    "Cancel": "Отмена",
    "Files": "Файлы",
    "Filter by name, folder or error…": "Фильтр по имени, папке или ошибке…",
    "Drop files or folders here to add them.": "Перетащите сюда файлы или папки, чтобы добавить их.",
    "Opening knowledge base {name}…": "Открываю базу знаний {name}…",
    "New knowledge base": "Новая база знаний",
    "Name:": "Название:",
    "Rename knowledge base": "Переименовать базу знаний",
    "New name:": "Новое название:",
    "Add a folder to the knowledge base": "Добавить папку в базу знаний",
    "Add files to the knowledge base": "Добавить файлы в базу знаний",
    "Adding {n} item(s) to {kb}…": "Добавляю в «{kb}» (объектов: {n})…",
    "Scanning…": "Просмотр…",
    "Scanning folders…": "Просматриваю папки…",
    "Pause stops after the current batch; Resume indexes the files not done yet":
        "«Пауза» останавливает после текущей порции; «Продолжить» индексирует оставшиеся файлы",
    "{i} indexed · {f} failed · {p} pending · {n} passages":
        "В индексе: {i} · ошибок: {f} · ожидает: {p} · фрагментов: {n}",
    "All": "Все",
    "Indexed": "В индексе",
    "Failed": "С ошибкой",
    "Pending": "Ожидают",
    "Only knowledge bases in Docent's data folder can be renamed here.":
        "Здесь можно переименовать только базы знаний из папки данных Docent.",
    "Cannot rename: {error}": "Не удалось переименовать: {error}",
    "Delete knowledge base": "Удалить базу знаний",
    "Delete the knowledge base “{name}” and its conversations? Your documents are not touched.":
        "Удалить базу знаний «{name}» и её беседы? Ваши документы не будут затронуты.",
    "Indexing failed: {error}": "Ошибка индексации: {error}",
    "Paused. Resume continues with the files not indexed yet.":
        "Пауза. «Продолжить» проиндексирует файлы, до которых не дошла очередь.",
    "Paused": "Пауза",
    "Up to date": "Всё проиндексировано",
    "Knowledge base damaged: rebuilding from your documents":
        "База знаний повреждена: восстанавливаю из ваших документов",
    "Knowledge base damaged: rebuilding from your documents, {done}/{total} files":
        "База знаний повреждена: восстанавливаю из ваших документов, {done}/{total} файлов",
    "Knowledge base could not be repaired: {reason}": "Базу знаний не удалось восстановить: {reason}",
    "Knowledge base repaired ({rebuilt}); documents lost: {lost}":
        "База знаний восстановлена ({rebuilt}); потеряно документов: {lost}",
    "Last run: {n} indexed, {u} unchanged, {f} failed, {s:.1f} s":
        "Последний запуск: проиндексировано {n}, без изменений {u}, ошибок {f}, {s:.1f} с",
    "Resume": "Продолжить",
    "Pause": "Пауза",
    "Cannot create the knowledge base: {error}": "Не удалось создать базу знаний: {error}",
    "Documents": "Документы",
    "All files": "Все файлы",
    "Removed {path} ({n} files).": "Убрано: {path} (файлов: {n}).",
    ", {n} failed": ", ошибок: {n}",
    ", {n} removed": ", удалено: {n}",
    " (stopped)": " (остановлено)",
    "Stopped": "Остановлено",
    "Stopped: the remaining files are pending.": "Остановлено: оставшиеся файлы ждут индексации.",
    "{path} (missing)": "{path} (не найдено)",
    "a knowledge base with that name exists": "база знаний с таким названием уже есть",
    "Cannot remove: {error}": "Не удалось убрать: {error}",
    "Re-index to add the pending files.": "Переиндексируйте, чтобы добавить ожидающие файлы.",
    "Empty": "Пусто",
    "Add a folder or drop files here to start.": "Чтобы начать, добавьте папку или перетащите сюда файлы.",
    # main window
    "Search": "Поиск",
    "&File": "&Файл",
    "&Chat": "&Беседа",
    "&Help": "&Справка",
    "Stop answering": "Остановить ответ",
    "Search documents": "Искать в документах",
    "New knowledge base…": "Новая база знаний…",
    "Settings…": "Настройки…",
    "Copy answer with citations": "Копировать ответ со ссылками",
    "Quit": "Выход",
    "About Docent": "О программе Docent",
    "Docent answers questions from your own documents, offline, with every sentence linked to the passage that "
    "supports it.":
        "Docent отвечает на вопросы по вашим собственным документам без доступа к сети, и каждое предложение "
        "ответа ссылается на подтверждающий его фрагмент.",
    "Knowledge base: {path}": "База знаний: {path}",
    # model
    "No model is configured: choose a GGUF file in Settings → Model.":
        "Модель не настроена: выберите файл GGUF в «Настройки → Модель».",
    "Preparing the bundled model (once)…": "Подготовка встроенной модели (один раз)…",
    "Model settings changed: the model loads again on the next question.":
        "Настройки модели изменены: модель загрузится заново при следующем вопросе.",
    "Loading model {name}…": "Загрузка модели {name}…",
    "Model ready: {name} ({device}, context {n_ctx})": "Модель готова: {name} ({device}, контекст {n_ctx})",
    "Searching your documents…": "Ищу в ваших документах…",
    "Choosing the relevant documents…": "Выбираю нужные документы…",
    # search
    "Search your documents (Russian, English, Japanese…)": "Поиск по документам (русский, английский, японский…)",
    "Hybrid ranking (recommended), keyword (BM25) only, or embeddings only":
        "Гибридное ранжирование (рекомендуется), только по словам (BM25) или только по смыслу (эмбеддинги)",
    "Searching…": "Поиск…",
    "Words + meaning": "Слова + смысл",
    "Words only": "Только слова",
    "Meaning only": "Только смысл",
    "No matching passages": "Ничего не найдено",
    ", p. {page}": ", с. {page}",
    "Search failed: {error}": "Ошибка поиска: {error}",
    "Type words to find passages. No model is needed for search.":
        "Введите слова, чтобы найти фрагменты. Для поиска модель не нужна.",
    # settings
    "Docent settings": "Настройки Docent",
    "Model": "Модель",
    "Embeddings": "Эмбеддинги",
    "Interface": "Интерфейс",
    "Bundled model (gemma-3-270m: for trying Docent out, not for real answers)":
        "Встроенная модель (gemma-3-270m: чтобы попробовать Docent, не для настоящих ответов)",
    "GGUF model file:": "Файл модели GGUF:",
    "Path to a .gguf file": "Путь к файлу .gguf",
    "Choose GGUF file…": "Выбрать файл GGUF…",
    "Download selected model": "Скачать выбранную модель",
    "Cancel download": "Отменить загрузку",
    "Downloads only start when you click; Docent never goes online by itself.":
        "Загрузка начинается только по вашей команде; сам Docent в сеть не выходит.",
    "Recommended models (8B class; about 6 GB of RAM each)": "Рекомендуемые модели (класс 8B, около 6 ГБ ОЗУ каждая)",
    "all (when a GPU is available)": "все (если есть GPU)",
    "Layers to offload to the GPU: 0 = CPU only": "Сколько слоёв перенести на GPU: 0 — только процессор",
    " tokens": " токенов",
    "Use the model's recommended temperature": "Рекомендованная температура модели",
    "GPU layers:": "Слои на GPU:",
    "Context size:": "Размер контекста:",
    "Temperature:": "Температура:",
    "Longest answer:": "Наибольшая длина ответа:",
    "Documents per question:": "Документов на вопрос:",
    "Model check of partial sentences:": "Проверка частичных предложений моделью:",
    "Only when the model runs fully on a GPU": "Только когда модель целиком на GPU",
    "Always": "Всегда",
    "Never": "Никогда",
    "The model judges the sentences the rules leave partial against their source (a few tokens each; slow on a CPU)":
        "Модель сверяет с источником предложения, которые правила признали частично подтверждёнными "
        "(несколько токенов на каждое; на CPU медленно)",
    "A knowledge base keeps the embedding model it was built with (its vectors depend on it). The choice below "
    "applies to knowledge bases created from now on.":
        "База знаний сохраняет модель эмбеддингов, с которой была построена (от неё зависят векторы). Выбор ниже "
        "действует для баз знаний, создаваемых с этого момента.",
    "Choose model folder…": "Выбрать папку модели…",
    "Any sentence-transformers model folder works offline (e.g. a multilingual-e5 model). The bundled "
    "Universal Sentence Encoder (multilingual) finds passages across 16 languages; other languages are searched "
    "by keywords.":
        "Подойдёт любая папка модели sentence-transformers, работает без сети (например, multilingual-e5). "
        "Встроенный Universal Sentence Encoder (многоязычный) находит фрагменты на 16 языках и между ними; "
        "остальные языки ищутся по ключевым словам.",
    "System language": "Язык системы",
    "Follow the system": "Как в системе",
    "Light": "Светлая",
    "Dark": "Тёмная",
    "Re-index watched folders automatically when files change": "Автоматически переиндексировать папки при изменении файлов",
    "Language:": "Язык:",
    "Theme:": "Тема:",
    "Choose a GGUF model": "Выберите модель GGUF",
    "GGUF models (*.gguf);;All files (*)": "Модели GGUF (*.gguf);;Все файлы (*)",
    "Choose a sentence-transformers model folder": "Выберите папку модели sentence-transformers",
    "Connecting to huggingface.co…": "Подключение к huggingface.co…",
    "Checking the download (SHA-256)…": "Проверка загрузки (SHA-256)…",
    "Downloading…": "Загрузка…",
    "Languages": "Языки",
    "Quantization": "Квантование",
    "Size": "Размер",
    "Licence": "Лицензия",
    "This knowledge base uses: {model}": "Эта база знаний использует: {model}",
    "Downloaded and checked: {path}": "Скачано и проверено: {path}",
    "Looking up the model files…": "Ищу файлы модели…",
    "Cancelling… (the download resumes from here next time)": "Отмена… (в следующий раз загрузка продолжится с этого места)",
    "Download failed: {error}": "Загрузка не удалась: {error}",
    (
        "Cannot reach the model hub (huggingface.co): this computer seems to be offline. Docent works offline "
        "once a model is here: download the .gguf file on another computer and choose it with “Choose GGUF "
        "file…”, or try again later (the download resumes where it stopped)."
    ):
        "Нет связи с хабом моделей (huggingface.co): похоже, компьютер не в сети. Когда модель уже на месте, "
        "Docent работает без сети: скачайте файл .gguf на другом компьютере и выберите его кнопкой «Выбрать "
        "файл GGUF…» или попробуйте позже (загрузка продолжится с места остановки).",
    # viewer
    "Open in system viewer": "Открыть в программе",
    "Open the file with the application your system uses for it": "Открыть файл программой, назначенной в системе",
    "Loading…": "Загрузка…",
    "Show text": "Показать текст",
    "Show page": "Показать страницу",
    "Sources": "Источники",
    "Click a citation [1] or a search result to see the passage in its source.":
        "Нажмите на ссылку [1] или на результат поиска, чтобы увидеть фрагмент в исходном документе.",
    "The file changed after this answer: the cited passage is not in it any more.":
        "Файл изменился после этого ответа: процитированного фрагмента в нём больше нет.",
    "page {page}": "страница {page}",
    "characters {a}–{b}": "символы {a}–{b}",
    "This file is no longer in the knowledge base (moved or deleted?).":
        "Этого файла больше нет в базе знаний (перемещён или удалён?).",
    "Cannot read the source: {error}": "Не удалось прочитать источник: {error}",
    # remote engines (shared knowledge bases, model servers)
    "API key:": "Ключ API:",
    "Base URL:": "Базовый URL:",
    "Cannot add the shared knowledge base: {error}": "Не удалось добавить общую базу знаний: {error}",
    "Connect to a shared knowledge base": "Подключение к общей базе знаний",
    "Connect…": "Подключить…",
    "Detect": "Определить автоматически",
    "Disconnect shared knowledge base": "Отключить общую базу знаний",
    "Documents you add are indexed on this computer and shared through the server (Chroma, `chroma run`). "
    "Everyone connected sees them. ":
        "Добавленные вами документы индексируются на этом компьютере и становятся общими через сервер "
        "(Chroma, `chroma run`). Их видят все подключённые. ",
    "Documents:": "Документы:",
    "Knowledge base on the server:": "База знаний на сервере:",
    "Model name:": "Имя модели:",
    "Name here:": "Имя здесь:",
    "No system keyring was found: tokens and API keys are kept only until Docent quits.":
        "Системное хранилище паролей не найдено: токены и ключи API хранятся только до выхода из Docent.",
    "OpenAI-compatible model server (vLLM, llama.cpp server…):": "Сервер модели, совместимый с OpenAI (vLLM, llama.cpp server…):",
    "Port:": "Порт:",
    "Put the documents in the system message": "Передавать документы в системном сообщении",
    "Questions and the retrieved passages are sent to this server; nothing else is. ":
        "На этот сервер отправляются вопросы и найденные фрагменты, и ничего больше. ",
    "Send a “documents” message (Vikhr)": "Отдельное сообщение «documents» (Vikhr)",
    "Server:": "Сервер:",
    "Shared knowledge base unreachable: keyword matches only": "Общая база знаний недоступна: только совпадения по словам",
    "Shared knowledge base: connected": "Общая база знаний: подключено",
    "Shared knowledge base: {error}": "Общая база знаний: {error}",
    "Token:": "Токен:",
    "Tokens and API keys are stored in the system keyring.": "Токены и ключи API хранятся в системном хранилище паролей.",
    "Use a knowledge base shared on a Chroma server": "Использовать общую базу знаний на сервере Chroma",
    "as shown in Docent (default: the server's name)": "как показывать в Docent (по умолчанию — имя на сервере)",
    "optional": "необязательно",
    "unchanged": "без изменений",
    "{name} (shared)": "{name} (общая)",
    "Remove “{name}” from this computer? The shared copy on {server} stays for everyone else.":
        "Убрать «{name}» с этого компьютера? Общая копия на {server} останется для остальных.",
    "Disconnect, keep my files shared": "Отключить, мои файлы остаются общими",
    "Disconnect and withdraw my files": "Отключить и убрать мои файлы",
    "Withdrawing your files from the shared knowledge base…": "Ваши файлы убираются из общей базы знаний…",
    "Cannot withdraw your files: {error}": "Не удалось убрать ваши файлы: {error}",
    "The knowledge base is busy; try again in a moment.": "База знаний занята; попробуйте чуть позже.",
    "Connecting to the model server {url}…": "Подключение к серверу модели {url}…",
    "Model server ready: {name}": "Сервер модели готов: {name}",
    "No model server is configured: set its URL in Settings → Model.":
        "Сервер модели не задан: укажите его URL в Настройках → Модель.",
    "quoted answers": "ответы цитатами",
    "Quoted answers from your documents: {reason}": "Ответы цитатами из ваших документов: {reason}",
    # verdicts, answer modes, check text, sample questions
    "{n} supported": "подтверждено: {n}",
    "{n} partly supported": "подтверждено частично: {n}",
    "{n} contradicted": "противоречит источнику: {n}",
    "{n} unsupported": "не подтверждено: {n}",
    "the source says {what}": "в источнике: {what}",
    "the source says otherwise": "в источнике сказано иначе",
    "partly supported": "подтверждено частично",
    "partly supported; not in the source: {words}": "подтверждено частично; нет в источнике: {words}",
    "contradicted: {says}": "противоречит источнику: {says}",
    "marked words": "отмеченных слов",
    "are not in the cited source.": "нет в указанном источнике.",
    "The source says otherwise: the struck-through words are wrong.":
        "В источнике сказано иначе: зачёркнутые слова неверны.",
    "Try a sample question about the sample documents:": "Попробуйте пример вопроса по демонстрационным документам:",
    "Quoted from your documents": "Цитаты из ваших документов",
    "Written by the model": "Написано моделью",
    "Written by {model}": "Написано моделью {model}",
    "Quoted from documents": "Цитаты из документов",
    "Auto": "Авто",
    "Answers:": "Ответы:",
    "How this conversation is answered: Auto quotes your documents when no chat model is chosen and lets a chat "
    "model write otherwise":
        "Как отвечать в этой беседе: «Авто» цитирует документы, когда чат-модель не выбрана, а иначе ответ "
        "пишет чат-модель",
    "the bundled model is a small demo model. Choose a chat model in Settings for written answers.":
        "встроенная модель — небольшая демонстрационная. Чтобы модель писала ответы, выберите чат-модель в "
        "Настройках.",
    "Check text": "Проверка текста",
    "Check a text against the documents": "Проверить текст по документам",
    "Check": "Проверить",
    "Check every sentence against the knowledge base (Ctrl+Enter)":
        "Проверить каждое предложение по базе знаний (Ctrl+Enter)",
    "Clear": "Очистить",
    "Checking…": "Проверка…",
    "Cannot check: {error}": "Не удалось проверить: {error}",
    "No sentence with content to check.": "Нет предложений, которые можно проверить.",
    "Paste a text to check against your documents: a draft, an email, another tool's answer… "
    "(Ctrl+Enter to check)":
        "Вставьте текст, чтобы проверить его по своим документам: черновик, письмо, ответ другой программы… "
        "(Ctrl+Enter — проверить)",
    "Every sentence is looked up in the knowledge base: supported, partly supported, contradicted (with what "
    "the source says) or unsupported. Click a sentence to open its source.":
        "Каждое предложение ищется в базе знаний: подтверждено, подтверждено частично, противоречит источнику "
        "(с тем, что сказано в источнике) или не подтверждено. Щёлкните предложение, чтобы открыть источник.",
    # the search model (gui/model_upgrade.py)
    "{model} (English only)": "{model} (только английский)",
    "{model} ({n} languages)": "{model} (языков: {n})",
    "Search model: {model}": "Модель поиска: {model}",
    "Upgrade search model": "Обновить модель поиска",
    "Re-embed every passage with {model}: questions in other languages find your documents too. "
    "Search keeps working meanwhile; you can pause.":
        "Заново вычислить векторы всех фрагментов моделью {model}: вопросы на других языках тоже найдут ваши "
        "документы. Поиск при этом работает; можно поставить на паузу.",
    "Re-embedding {done}/{total} passages": "Пересчёт векторов: {done}/{total} фрагментов",
    "Re-embedding…": "Пересчёт векторов…",
    "Upgrade to {model} waits for indexing to finish.": "Переход на {model} ждёт окончания индексации.",
    "Upgrade to {model} paused; search uses the current model meanwhile.":
        "Переход на {model} приостановлен; пока поиск использует текущую модель.",
    "Pausing after this batch…": "Пауза после текущей порции…",
    "Upgrading to {model}; search keeps working with the current model.":
        "Переход на {model}; поиск продолжает работать на текущей модели.",
    "Upgrading the search model failed: {error}": "Не удалось обновить модель поиска: {error}",
    "Search model upgraded: this knowledge base now uses {model}":
        "Модель поиска обновлена: база знаний теперь использует {model}",
}

# trn(singular, plural, n): Russian forms for 1 / 2-4 / 5+ (keyed by the English plural).
RU_PLURAL: dict[str, tuple[str, str, str]] = {
    "{n} files withdrawn": ("{n} файл убран", "{n} файла убрано", "{n} файлов убрано"),
    "{n} files shared by others": ("{n} файл от других участников", "{n} файла от других участников",
                                   "{n} файлов от других участников"),
    "{n} passages": ("{n} фрагмент", "{n} фрагмента", "{n} фрагментов"),
    "Indexed {n} files in {s:.1f} s": (
        "Проиндексирован {n} файл за {s:.1f} с",
        "Проиндексировано {n} файла за {s:.1f} с",
        "Проиндексировано {n} файлов за {s:.1f} с",
    ),
    "{n} individual files": ("{n} отдельный файл", "{n} отдельных файла", "{n} отдельных файлов"),
    "{n} files pending": ("{n} файл ожидает", "{n} файла ожидают", "{n} файлов ожидают"),
}
